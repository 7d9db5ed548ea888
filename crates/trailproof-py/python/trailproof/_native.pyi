from typing import Callable, Optional, Sequence

def run(
    args: Sequence[str],
    progress: Optional[Callable[[int, int, int, int, int], object]] = None,
) -> int: ...
