"""What a process that parses strangers' bytes may still do, enforced by the kernel.

A decoder subverted by a hostile file runs whatever code the file carries, as the service's
user. Resource limits (``decoder._confine``) bound what it costs; this module bounds what it can
reach:

* :func:`non_dumpable` (``prctl(PR_SET_DUMPABLE, 0)``, in the gunicorn master and every worker):
  a process of the same user can no longer read ``/proc/<pid>/environ`` or ``/proc/<pid>/mem``
  nor ptrace it, so the workers' ``NSFW_*`` secrets stay theirs;
* :func:`drop_root`: a decoder started by a service running as root becomes ``nobody`` (65534),
  once its imports are done, with no supplementary groups;
* :func:`deny_writes_and_sockets`: a seccomp filter (libseccomp, through ``pyseccomp``) that
  refuses with ``EPERM`` every new socket, every open for writing, creating or truncating, every
  change to the file system (rename, unlink, chmod, ...), ptrace and the other ways into another
  process's memory, signals to any other process, new namespaces, and io_uring (whose
  operations seccomp would not see). Files already open stay usable: the decoder's pipes and the
  shared memory its replies go into.

Seccomp filters hold on every Linux kernel since 3.17 with ``CONFIG_SECCOMP_FILTER`` (every
distribution kernel); the filter is kept for the process's life and inherited by anything it
starts. See docs/security-decoder.md.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

PR_SET_DUMPABLE = 4
NOBODY = 65534
# open(2) flags (the same on every Linux architecture this runs on)
O_ACCMODE, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC = 0o3, 0o1, 0o2, 0o100, 0o1000
# clone(2) flags that make new namespaces (a user namespace would give the decoder a root of its own)
CLONE_NEW = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)

# Refused outright: sockets, changes to the file system, other processes' memory, namespaces,
# the kernel's keyrings, BPF and perf, io_uring.
DENIED = (
    # sockets: no network, no Unix socket (a local Redis, a database), no new pair
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # the file system: nothing created, removed, renamed, linked, truncated or re-permissioned
    "creat", "mknod", "mknodat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "truncate", "ftruncate", "fallocate",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "fchownat", "lchown",
    "utime", "utimes", "utimensat", "futimesat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "name_to_handle_at", "open_by_handle_at", "mount", "umount2", "pivot_root", "chroot", "swapon", "swapoff",
    # other processes: their memory, their descriptors, their signals
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    "tkill", "kcmp",
    # namespaces, keyrings, BPF, perf, userfaultfd, io_uring (its operations bypass seccomp)
    "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "execve", "execveat",
)  # fmt: skip


def non_dumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)`` on this process; False where it is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def drop_root(uid: int = NOBODY, gid: int = NOBODY) -> bool:
    """Become ``uid``/``gid`` for good (real, effective and saved) when running as root; True if done."""
    if os.geteuid() != 0:
        return False
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    return True


def seccomp_available() -> bool:
    """Whether the seccomp binding and libseccomp2 load here (the decoders then confine themselves)."""
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        return False
    return True


def deny_writes_and_sockets() -> bool:
    """Install the seccomp filter described in the module's docstring; False without libseccomp."""
    try:
        import pyseccomp as seccomp
    except (ImportError, RuntimeError, OSError):  # the binding, or libseccomp2 itself, is missing
        return False
    deny = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)  # ACT_BADARCH stays "kill": no 32-bit ABI detour
    rules.set_attr(seccomp.Attr.CTL_TSYNC, 1)  # every thread, should a library have started one
    for name in DENIED:
        _add(rules, deny, name)
    for name, flags in (("open", 1), ("openat", 2)):  # for writing, creating or truncating
        for mask, value in ((O_ACCMODE, O_WRONLY), (O_ACCMODE, O_RDWR), (O_CREAT, O_CREAT), (O_TRUNC, O_TRUNC)):
            _add(rules, deny, name, seccomp.Arg(flags, seccomp.MASKED_EQ, mask, value))
    # openat2 and clone3 pass their flags in a struct a filter cannot read: "not implemented" makes
    # the C library fall back to openat and clone, whose flags it can
    for name in ("openat2", "clone3"):
        _add(rules, seccomp.ERRNO(errno.ENOSYS), name)
    for flag in CLONE_NEW:
        _add(rules, deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    pid = os.getpid()  # signals to itself only (the CPU budget's SIGPROF comes from the kernel)
    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        _add(rules, deny, name, seccomp.Arg(0, seccomp.NE, pid))
    rules.load()
    return True


def _add(rules: Any, action: int, name: str, *args: Any) -> None:
    try:
        rules.add_rule(action, name, *args)
    except (OSError, ValueError, RuntimeError):  # a system call this architecture or libseccomp lacks
        pass


def confine_decoder() -> list[str]:
    """Everything above, in the order the decoder applies it after its setup; what holds."""
    held = []
    if drop_root():
        held.append(f"uid {NOBODY}")
    if non_dumpable():
        held.append("non-dumpable")
    if deny_writes_and_sockets():
        held.append("seccomp")
    return held
