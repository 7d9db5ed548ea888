from typing import Callable, List, Optional, Tuple

_ProgressCallback = Optional[Callable[[int, int, int, int, int], object]]

def validate(
    *,
    start_time: str,
    trail_arn: Optional[str] = None,
    trail_name: Optional[str] = None,
    home_region: Optional[str] = None,
    end_time: Optional[str] = None,
    archive: Optional[str] = None,
    archive_buckets: Optional[List[Tuple[str, str]]] = None,
    public_keys: Optional[str] = None,
    fetch_public_keys: bool = False,
    s3_bucket: Optional[str] = None,
    s3_prefix: Optional[str] = None,
    account_id: Optional[str] = None,
    region: Optional[str] = None,
    organization_id: Optional[str] = None,
    all_accounts: bool = False,
    all_regions: bool = False,
    accounts: Optional[List[str]] = None,
    regions: Optional[List[str]] = None,
    state: Optional[str] = None,
    concurrency: Optional[int] = None,
    threads: Optional[int] = None,
    profile: Optional[str] = None,
    max_digest_size: Optional[int] = None,
    max_digest_entries: Optional[int] = None,
    verbose: bool = False,
    progress: _ProgressCallback = None,
) -> Tuple[str, int]: ...
def verify_query_results(
    *,
    local_export_path: Optional[str] = None,
    s3_bucket: Optional[str] = None,
    s3_prefix: Optional[str] = None,
    public_keys: Optional[str] = None,
    region: Optional[str] = None,
    profile: Optional[str] = None,
    threads: Optional[int] = None,
    progress: _ProgressCallback = None,
) -> Tuple[str, int]: ...
