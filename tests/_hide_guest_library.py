"""The start of a child-process script that hides every guest library
installed on this machine: a new mount namespace (a user namespace too when
not root) with an empty tmpfs over each folder that holds one.  The script
exits with 77 when namespaces are not available."""

HIDE_GUEST_LIBRARY = r"""
import ctypes, ctypes.util, glob, os, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x10000000, 0x20000, 0x4000, 1 << 18
uid, gid = os.getuid(), os.getgid()
if libc.unshare(CLONE_NEWNS | (CLONE_NEWUSER if uid else 0)) != 0:
    sys.exit(77)
if uid:
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                       ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
    sys.exit(77)
# Hide every folder that holds a guest library: an empty tmpfs over each.
for lib in [p for pattern in ("/usr/lib/*-linux-gnu/lib*uest*ib.so*", "/usr/lib*/lib*uest*ib.so*",
                             "/usr/local/lib/lib*uest*ib.so*", "/usr/lib/vmware-tools")
            for p in glob.glob(pattern)]:
    if libc.mount(b"tmpfs", os.path.dirname(lib).encode(), b"tmpfs", 0, None) != 0:
        sys.exit(77)
"""
