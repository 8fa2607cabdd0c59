/* Event layouts shared by the driver's kernel programs (driver.bpf.c) and its user side
 * (plugins/driver/src). One record in the ring buffer is:
 *
 *   struct vg_header                  common fields, `size` = the whole record in bytes
 *   body                              fixed struct of the event type (may be empty)
 *   strings                           `header.nstr` times: uint16 length, then that many bytes
 *                                     (no NUL); which string is which is fixed per type below
 *
 * All integers are in host byte order except ports and addresses (network order, as the
 * kernel keeps them). Plain C: included by clang -target bpf and by C++.
 */
#ifndef VIGIL_DRIVER_EVENTS_H
#define VIGIL_DRIVER_EVENTS_H

#ifndef __VMLINUX_H__
#include <stdint.h>
typedef uint8_t vg_u8;
typedef uint16_t vg_u16;
typedef uint32_t vg_u32;
typedef uint64_t vg_u64;
typedef int32_t vg_s32;
typedef int64_t vg_s64;
#else
typedef __u8 vg_u8;
typedef __u16 vg_u16;
typedef __u32 vg_u32;
typedef __u64 vg_u64;
typedef __s32 vg_s32;
typedef __s64 vg_s64;
#endif

#define VG_COMM_LEN 16
#define VG_MAX_ANCESTORS 12   /* pid_tree depth: the process and 11 ancestors */
#define VG_MAX_RECORD 16384   /* no record is larger */
#define VG_MAX_STR 4096       /* no single string is longer (paths are cut at PATH_MAX) */
#define VG_ARGV_MAX 1024      /* bytes of argv copied at exec */
#define VG_ENV_MAX 4096       /* bytes of the environment scanned for LD_PRELOAD/SSH_CONNECTION */
#define VG_DNS_MAX 512        /* bytes of a DNS answer copied */

/* Event types: Elkeid's data_type numbers, plus internal ones (>= 10000) that the user side
 * turns into records or state. */
enum vg_event_type {
    VG_OPEN = 2,
    VG_CONNECT = 42,
    VG_ACCEPT = 43,
    VG_BIND = 49,
    VG_EXECVE = 59,
    VG_EXIT = 60,
    VG_KILL = 62,
    VG_RENAME = 82,
    VG_LINK = 86,
    VG_PTRACE = 101,
    VG_SETSID = 112,
    VG_PRCTL = 157,
    VG_MOUNT = 165,
    VG_MEMFD_CREATE = 356,
    VG_DNS = 601,
    VG_FILE_CREATE = 602,
    VG_MODULE_LOAD = 603,
    VG_CRED_CHANGE = 604, /* every successful set*uid; user side decides 604 and 611 */
    VG_UNLINK = 605,
    VG_WRITE = 608,
    VG_READ = 609,
    VG_PROC_SNAPSHOT = 10001, /* one per process, from the task iterator at start */
};

/* Slots of the per-CPU counters (drops, emitted, filtered) and of the enable mask. */
enum vg_slot {
    VG_SLOT_EXECVE,
    VG_SLOT_CONNECT,
    VG_SLOT_BIND,
    VG_SLOT_ACCEPT,
    VG_SLOT_EXIT,
    VG_SLOT_KILL,
    VG_SLOT_OPEN,
    VG_SLOT_RENAME,
    VG_SLOT_LINK,
    VG_SLOT_PTRACE,
    VG_SLOT_SETSID,
    VG_SLOT_PRCTL,
    VG_SLOT_MOUNT,
    VG_SLOT_MEMFD,
    VG_SLOT_DNS,
    VG_SLOT_CREATE,
    VG_SLOT_MODULE,
    VG_SLOT_CRED,
    VG_SLOT_UNLINK,
    VG_SLOT_WRITE,
    VG_SLOT_READ,
    VG_SLOT_COUNT
};

/* Counter kinds, per slot and CPU: counters[slot * VG_CNT_KINDS + kind]. */
enum vg_counter_kind {
    VG_CNT_EMITTED = 0,   /* written to the ring */
    VG_CNT_DROPPED = 1,   /* ring full */
    VG_CNT_FILTERED = 2,  /* dropped by an allow-list or the loopback filter */
    VG_CNT_QUIETED = 3,   /* dropped because its exe floods */
    VG_CNT_KINDS = 4
};

/* vg_config.flags */
#define VG_CFG_DROP_LOOPBACK_CONNECT (1u << 0)
#define VG_CFG_EXE_ALLOWLIST (1u << 1)  /* exe_allow map in use */
#define VG_CFG_ARGV_ALLOWLIST (1u << 2) /* argv_allow map in use */
#define VG_CFG_QUIET_FLOODS (1u << 3)

/* The one entry of the `config` array map; the user side writes it at start and on tasks. */
struct vg_config {
    vg_u64 enabled;           /* bit per vg_slot */
    vg_u32 flags;             /* VG_CFG_* */
    vg_u32 flood_per_minute;  /* events of one exe per minute above which it is quieted */
    vg_u32 self_tgid;         /* the driver's own process: never reported */
    vg_u32 agent_tgid;        /* the agent: its events and its children's (the plugins') are
                                 dropped and counted as filtered; 0 = report them */
};

/* vg_header.flags */
#define VG_F_TRUNCATED (1u << 0) /* a string was cut */
#define VG_F_KTHREAD (1u << 1)

struct vg_header {
    vg_u32 type;  /* vg_event_type */
    vg_u32 size;  /* whole record, header included */
    vg_u64 ktime_ns;      /* bpf_ktime_get_boot_ns() */
    vg_u64 start_time;    /* group leader's start, ns since boot: (tgid, start_time) names a process */
    vg_u64 cgroup_id;     /* cgroup v2 id */
    vg_u64 exe_ino;       /* inode of the process's executable (0: kernel thread) */
    vg_u32 exe_dev;
    vg_u32 pid;           /* thread id */
    vg_u32 tgid;          /* process id */
    vg_u32 ppid;          /* real parent's tgid */
    vg_u32 pgid;
    vg_u32 sid;
    vg_u32 uid, euid, suid, fsuid;
    vg_u32 gid, egid, sgid, fsgid;
    vg_u32 sessionid;     /* audit session id */
    vg_u32 pns;           /* pid namespace inode number */
    vg_u32 root_pns;      /* the initial (host) pid namespace's inode number */
    vg_u32 uts_ns;        /* uts namespace inode number (nodename cache key) */
    vg_s32 ret;           /* syscall result where there is one */
    vg_u16 nstr;          /* strings after the body */
    vg_u16 flags;         /* VG_F_* */
    char comm[VG_COMM_LEN]; /* 8-byte aligned: copied with two loads */
};

struct vg_sockaddr {
    vg_u16 family;  /* AF_INET or AF_INET6; 0 when unknown */
    vg_u16 protocol; /* IPPROTO_* */
    vg_u16 sport;   /* network order */
    vg_u16 dport;   /* network order */
    vg_u8 saddr[16]; /* IPv4 in the first 4 bytes */
    vg_u8 daddr[16];
};

/* File descriptor kinds for stdin/stdout at exec (from the inode mode). */
enum vg_fd_kind { VG_FD_NONE = 0, VG_FD_FILE, VG_FD_CHAR, VG_FD_PIPE, VG_FD_SOCKET, VG_FD_OTHER };

struct vg_ancestor {
    char comm[VG_COMM_LEN]; /* first: 8-byte aligned */
    vg_u32 tgid;
    vg_u32 pad;
};

/* VG_EXECVE. ret 0 (from sched_process_exec) or the failed execve's -errno.
 * strings: exe, argv (NUL separated), cwd, tty name, environment excerpt (NUL separated),
 *          stdin path, stdout path (regular files only; a character device is named by its
 *          rdev), nodename.
 * For a failed exec only exe (the path asked for) and cwd are filled, the others are empty. */
struct vg_exec {
    vg_u8 stdin_kind;
    vg_u8 stdout_kind;
    vg_u16 n_ancestors;   /* entries of `ancestors` filled, the parent first */
    vg_u32 stdin_rdev;    /* device of a character-device stdin (kernel encoding), e.g. a tty */
    vg_u32 stdout_rdev;
    vg_u32 exe_mode;      /* inode mode of the executable (setuid/setgid bits) */
    vg_u64 stdin_ino;
    vg_u64 stdout_ino;
    vg_u64 exe_size;
    vg_s64 exe_mtime;     /* seconds */
    struct vg_sockaddr stdin_sock; /* when stdin is an inet socket */
    struct vg_ancestor ancestors[VG_MAX_ANCESTORS];
};
#define VG_EXEC_NSTR 8

/* VG_CONNECT, VG_BIND, VG_ACCEPT: no strings. ret is 0 for connect/bind (seen before the
 * kernel acts), the new fd for accept. */
struct vg_sock_event {
    struct vg_sockaddr addr;
};

/* VG_RENAME, VG_LINK: strings: old path, new path, old base dir, new base dir (the directory
 * a relative path is relative to; empty for an absolute path). */
#define VG_RENAME_NSTR 4

/* VG_UNLINK, VG_OPEN, VG_FILE_CREATE, VG_WRITE, VG_READ: strings: path, base dir. */
struct vg_file_event {
    vg_u32 flags;  /* open flags */
    vg_u32 mode;   /* inode mode */
    struct vg_sockaddr sock; /* the process's first inet socket peer, for VG_FILE_CREATE */
};
#define VG_FILE_NSTR 2

/* VG_PTRACE */
struct vg_ptrace {
    vg_s64 request;
    vg_u64 addr;
    vg_u64 data;
    vg_u32 target_pid;
    vg_u32 pad;
};

/* VG_PRCTL: strings: new name (PR_SET_NAME). */
struct vg_prctl {
    vg_s32 option;
    vg_u32 pad;
};
#define VG_PRCTL_NSTR 1

/* VG_MOUNT: strings: device, mount point, fs type, options. */
struct vg_mount {
    vg_u64 flags;
};
#define VG_MOUNT_NSTR 4

/* VG_MEMFD_CREATE: strings: name. */
struct vg_memfd {
    vg_u32 flags;
    vg_u32 pad;
};
#define VG_MEMFD_NSTR 1

/* VG_DNS: a DNS answer read from a UDP socket whose peer port is 53.
 * strings: the packet's first bytes (binary, up to VG_DNS_MAX). */
struct vg_dns {
    struct vg_sockaddr addr; /* s = this host, d = the server */
};
#define VG_DNS_NSTR 1

/* VG_MODULE_LOAD: strings: module name. */
#define VG_MODULE_NSTR 1

/* VG_CRED_CHANGE: the header carries the new ids.
 * strings: none. */
struct vg_cred {
    vg_u32 syscall;  /* __NR_ of the call */
    vg_u32 parent_uid;
    vg_u32 parent_euid;
    vg_u32 pad;
};

/* VG_KILL */
struct vg_kill {
    vg_s32 target_pid;
    vg_s32 sig;
};

/* VG_EXIT: ret = exit code (wait status). */

/* VG_PROC_SNAPSHOT: strings: exe, nodename. */
struct vg_snapshot {
    vg_u64 exe_size;
    vg_s64 exe_mtime;
};
#define VG_SNAPSHOT_NSTR 2

#endif /* VIGIL_DRIVER_EVENTS_H */
