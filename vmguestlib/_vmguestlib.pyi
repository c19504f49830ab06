"""Type stubs for the C extension ``vmguestlib._vmguestlib``."""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any, ClassVar, Final, final

if sys.version_info >= (3, 11):
    from typing import Self
else:
    from typing_extensions import Self

UNLIMITED: Final[int]
ACCESSORS: Final[tuple[str, ...]]
ERROR_SUCCESS: Final[int]
ERROR_OTHER: Final[int]
ERROR_NOT_RUNNING_IN_VM: Final[int]
ERROR_NOT_ENABLED: Final[int]
ERROR_NOT_AVAILABLE: Final[int]
ERROR_NO_INFO: Final[int]
ERROR_MEMORY: Final[int]
ERROR_BUFFER_TOO_SMALL: Final[int]
ERROR_INVALID_HANDLE: Final[int]
ERROR_INVALID_ARG: Final[int]
ERROR_UNSUPPORTED_VERSION: Final[int]

class VMGuestLibError(Exception):
    code: int | None
    function: str | None
    call: str | None
    reason: str | None
    hint: str | None
class OtherError(VMGuestLibError): ...
class NotRunningInVMError(VMGuestLibError): ...
class NotEnabledError(VMGuestLibError): ...
class NotAvailableError(VMGuestLibError): ...
class NoInfoError(VMGuestLibError): ...
class OutOfMemoryError(VMGuestLibError, MemoryError): ...
class BufferTooSmallError(VMGuestLibError): ...
class InvalidHandleError(VMGuestLibError): ...
class InvalidArgError(VMGuestLibError): ...
class UnsupportedVersionError(VMGuestLibError): ...
class LibraryNotFoundError(VMGuestLibError, OSError):
    tried: tuple[str, ...]
    reasons: tuple[str, ...]

def load(path: str | os.PathLike[str] | None = None) -> str: ...
def library_path() -> str | None: ...
def error_text(code: int, /) -> str: ...
def _unload() -> None: ...

@final
class Snapshot:
    _fields: ClassVar[tuple[str, ...]]
    @property
    def session_id(self) -> int: ...
    @property
    def cpu_reservation_mhz(self) -> int | None: ...
    @property
    def cpu_limit_mhz(self) -> int | None: ...
    @property
    def cpu_shares(self) -> int | None: ...
    @property
    def cpu_used_ms(self) -> int | None: ...
    @property
    def cpu_stolen_ms(self) -> int | None: ...
    @property
    def elapsed_ms(self) -> int | None: ...
    @property
    def host_processor_speed(self) -> int | None: ...
    @property
    def mem_reservation_mb(self) -> int | None: ...
    @property
    def mem_limit_mb(self) -> int | None: ...
    @property
    def mem_shares(self) -> int | None: ...
    @property
    def mem_mapped_mb(self) -> int | None: ...
    @property
    def mem_active_mb(self) -> int | None: ...
    @property
    def mem_overhead_mb(self) -> int | None: ...
    @property
    def mem_ballooned_mb(self) -> int | None: ...
    @property
    def mem_swapped_mb(self) -> int | None: ...
    @property
    def mem_shared_mb(self) -> int | None: ...
    @property
    def mem_shared_saved_mb(self) -> int | None: ...
    @property
    def mem_used_mb(self) -> int | None: ...
    @property
    def mem_target_size_mb(self) -> int | None: ...
    @property
    def mem_shares64(self) -> int | None: ...
    @property
    def mem_zipped_mb(self) -> int | None: ...
    @property
    def mem_zip_saved_mb(self) -> int | None: ...
    @property
    def mem_llswapped_mb(self) -> int | None: ...
    @property
    def mem_swap_target_mb(self) -> int | None: ...
    @property
    def mem_balloon_target_mb(self) -> int | None: ...
    @property
    def mem_balloon_max_mb(self) -> int | None: ...
    @property
    def host_num_cpu_cores(self) -> int | None: ...
    @property
    def host_cpu_used_ms(self) -> int | None: ...
    @property
    def host_mem_swapped_mb(self) -> int | None: ...
    @property
    def host_mem_shared_mb(self) -> int | None: ...
    @property
    def host_mem_used_mb(self) -> int | None: ...
    @property
    def host_mem_phys_mb(self) -> int | None: ...
    @property
    def host_mem_phys_free_mb(self) -> int | None: ...
    @property
    def host_mem_kern_ovhd_mb(self) -> int | None: ...
    @property
    def host_mem_mapped_mb(self) -> int | None: ...
    @property
    def host_mem_unmapped_mb(self) -> int | None: ...
    @property
    def resource_pool_path(self) -> str | None: ...
    def _asdict(self) -> dict[str, Any]: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> Any: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Handle:
    def __init__(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def library(self) -> str | None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    def update(self) -> bool: ...
    @property
    def session_id(self) -> int: ...
    def snapshot(self) -> Snapshot: ...
    def resource_pool_path(self) -> str: ...
    def stat(self, stat: str = "", encoding: str = "text") -> bytes: ...
    def cpu_reservation_mhz(self) -> int:
        """CPU capacity guaranteed to this VM (MHz; 32-bit)."""
    def cpu_limit_mhz(self) -> int:
        """Most CPU capacity this VM may use (0xFFFFFFFF: no limit) (MHz; 32-bit)."""
    def cpu_shares(self) -> int:
        """Relative CPU priority of this VM against its siblings (shares; 32-bit)."""
    def cpu_used_ms(self) -> int:
        """CPU time this VM has run, its virtualization work included (ms; 64-bit)."""
    def cpu_stolen_ms(self) -> int:
        """Time this VM was ready to run but the host did not schedule it (ms; 64-bit)."""
    def elapsed_ms(self) -> int:
        """Wall time since this VM last began running on its current host (ms; 64-bit)."""
    def host_processor_speed(self) -> int:
        """Clock speed of the host's physical processors (MHz; 32-bit)."""
    def mem_reservation_mb(self) -> int:
        """Memory guaranteed to this VM (MB; 32-bit)."""
    def mem_limit_mb(self) -> int:
        """Most memory this VM may use (0xFFFFFFFF: no limit) (MB; 32-bit)."""
    def mem_shares(self) -> int:
        """Relative memory priority of this VM against its siblings (shares; 32-bit)."""
    def mem_mapped_mb(self) -> int:
        """Guest memory backed by host memory right now (MB; 32-bit)."""
    def mem_active_mb(self) -> int:
        """Estimate of the memory the guest touched recently (working set) (MB; 32-bit)."""
    def mem_overhead_mb(self) -> int:
        """Host memory spent on running this VM rather than on its guest (MB; 32-bit)."""
    def mem_ballooned_mb(self) -> int:
        """Memory the balloon driver has taken back from the guest (MB; 32-bit)."""
    def mem_swapped_mb(self) -> int:
        """Guest memory the host has paged out to its swap file (MB; 32-bit)."""
    def mem_shared_mb(self) -> int:
        """Guest memory deduplicated with identical pages on the host (MB; 32-bit)."""
    def mem_shared_saved_mb(self) -> int:
        """Host memory saved thanks to that page sharing (MB; 32-bit)."""
    def mem_used_mb(self) -> int:
        """Host memory consumed by this VM's guest memory (MB; 32-bit)."""
    def mem_target_size_mb(self) -> int:
        """Memory size the host currently aims to give this VM (MB; 64-bit)."""
    def mem_shares64(self) -> int:
        """Memory shares as a 64-bit value (newer hosts) (shares; 64-bit)."""
    def mem_zipped_mb(self) -> int:
        """Guest memory held compressed by the host (MB; 32-bit)."""
    def mem_zip_saved_mb(self) -> int:
        """Host memory saved by that compression (MB; 32-bit)."""
    def mem_llswapped_mb(self) -> int:
        """Guest memory swapped to the host's fast (host cache) swap (MB; 32-bit)."""
    def mem_swap_target_mb(self) -> int:
        """Amount of guest memory the host aims to keep swapped (MB; 32-bit)."""
    def mem_balloon_target_mb(self) -> int:
        """Amount the host wants the balloon driver to reclaim (MB; 32-bit)."""
    def mem_balloon_max_mb(self) -> int:
        """Largest amount the balloon driver may reclaim (MB; 32-bit)."""
    def host_num_cpu_cores(self) -> int:
        """Physical CPU cores of the host (cores; 32-bit)."""
    def host_cpu_used_ms(self) -> int:
        """CPU time used by the whole host, summed over its cores (ms; 64-bit)."""
    def host_mem_swapped_mb(self) -> int:
        """Memory the host has swapped out, over all VMs (MB; 64-bit)."""
    def host_mem_shared_mb(self) -> int:
        """Memory shared between VMs on the host (MB; 64-bit)."""
    def host_mem_used_mb(self) -> int:
        """Memory in use on the host (MB; 64-bit)."""
    def host_mem_phys_mb(self) -> int:
        """Physical memory installed in the host (MB; 64-bit)."""
    def host_mem_phys_free_mb(self) -> int:
        """Physical memory the host has free (MB; 64-bit)."""
    def host_mem_kern_ovhd_mb(self) -> int:
        """Memory the host's kernel uses for itself (MB; 64-bit)."""
    def host_mem_mapped_mb(self) -> int:
        """Host memory mapped for VMs (MB; 64-bit)."""
    def host_mem_unmapped_mb(self) -> int:
        """Host memory not mapped for any VM (MB; 64-bit)."""
