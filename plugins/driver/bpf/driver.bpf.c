// SPDX-License-Identifier: GPL-2.0
/* Vigil driver: kernel programs. Record layouts are in vigil_events.h; the user side
 * (plugins/driver/src/bpf_source.cpp) attaches only the programs of enabled events.
 *
 * Cost rules (BUILD-MACHINE.md): no kprobes/fentry here; event-specific hooks where they exist
 * (sched_process_exec, module_load, cgroup socket hooks); otherwise exit-only syscall
 * tracepoints that filter before any work; no blanket sys_enter/sys_exit. Records are built in
 * a per-CPU scratch buffer and copied to the ring with BPF_RB_NO_WAKEUP; user space polls on a
 * timer, and a wakeup is forced only when the ring holds more than `wake_bytes`.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "vigil_events.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define AT_FDCWD -100
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFCHR 0020000
#define S_IFIFO 0010000
#define FMODE_CREATED 0x100000
#define IPPROTO_UDP 17
#define PR_SET_NAME 15
#define PTRACE_POKETEXT 4
#define PTRACE_POKEDATA 5
#define PATH_DEPTH 32
#define NAME_CAP 256

/* Set by user space before load. */
const volatile __u64 wake_bytes = 1 << 20;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct vg_config);
} vg_cfg SEC(".maps");

struct counters {
    __u64 v[VG_SLOT_COUNT * VG_CNT_KINDS];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct counters);
} vg_counters SEC(".maps");

struct scratch {
    __u8 buf[VG_MAX_RECORD + VG_MAX_STR + 2 * NAME_CAP]; /* masked offsets stay inside */
    struct dentry *dents[PATH_DEPTH];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} scratch_map SEC(".maps");

struct file_key {
    __u64 ino;
    __u32 dev;
    __u32 pad;
};

/* Executables whose events are not reported (allow-list), by inode. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct file_key);
    __type(value, __u8);
} exe_allow SEC(".maps");

/* Exec command lines that are not reported: FNV-1a 64 of the argv bytes (NUL separated). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, __u8);
} argv_allow SEC(".maps");

/* Files whose reads/writes are reported (608/609), by inode. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct file_key);
    __type(value, __u8);
} watch_files SEC(".maps");

struct flood_state {
    __u64 window_start;
    __u32 count;
    __u8 system_exe; /* set by user space for exes under system directories: never quieted */
    __u8 pad[3];
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, struct file_key);
    __type(value, struct flood_state);
} flood SEC(".maps");

/* ---- small helpers ---------------------------------------------------------------------- */

static __always_inline void count(__u32 slot, __u32 kind)
{
    __u32 zero = 0;
    struct counters *c = bpf_map_lookup_elem(&vg_counters, &zero);
    __u32 i = slot * VG_CNT_KINDS + kind;
    if (c && i < VG_SLOT_COUNT * VG_CNT_KINDS)
        c->v[i]++;
}

static __always_inline struct vg_config *get_config(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&vg_cfg, &zero);
}

static __always_inline struct scratch *get_scratch(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&scratch_map, &zero);
}

/* `t` is a BTF pointer (bpf_get_current_task_btf(), a tp_btf argument, the iterator's task):
 * fields are read with direct loads, which the verifier turns into fault-safe loads, ~10x
 * cheaper than a bpf_probe_read_kernel() call each. */
static __always_inline void exe_key(struct task_struct *t, struct file_key *k)
{
    k->ino = 0;
    k->dev = 0;
    k->pad = 0;
    struct mm_struct *mm = t->mm;
    if (!mm)
        return;
    struct file *exe = mm->exe_file;
    if (!exe)
        return;
    struct inode *ino = exe->f_inode;
    if (!ino)
        return;
    k->ino = ino->i_ino;
    k->dev = ino->i_sb->s_dev;
}

/* Filters shared by every event: the driver itself, allow-listed exes, flooding exes.
 * Returns 1 when the event must be dropped (and counts why). */
static __always_inline int filtered(struct vg_config *cfg, struct task_struct *t, __u32 slot,
                                    struct file_key *k)
{
    if (!cfg)
        return 0;
    if (t->tgid == cfg->self_tgid)
        return 1;
    /* The agent's own housekeeping (spool files, connections) and its plugins: reporting them
     * would feed back (a spool file per batch -> a record -> a batch ...). */
    if (cfg->agent_tgid && (t->tgid == cfg->agent_tgid || t->real_parent->tgid == cfg->agent_tgid)) {
        count(slot, VG_CNT_FILTERED);
        return 1;
    }
    if (cfg->flags & VG_CFG_EXE_ALLOWLIST) {
        if (bpf_map_lookup_elem(&exe_allow, k)) {
            count(slot, VG_CNT_FILTERED);
            return 1;
        }
    }
    if ((cfg->flags & VG_CFG_QUIET_FLOODS) && k->ino) {
        __u64 now = bpf_ktime_get_boot_ns();
        struct flood_state *f = bpf_map_lookup_elem(&flood, k);
        if (!f) {
            struct flood_state init = {.window_start = now, .count = 1};
            bpf_map_update_elem(&flood, k, &init, BPF_NOEXIST);
            return 0;
        }
        if (now - f->window_start > 60ULL * 1000000000ULL) {
            f->window_start = now;
            f->count = 0;
        }
        f->count++;
        if (!f->system_exe && f->count > cfg->flood_per_minute) {
            count(slot, VG_CNT_QUIETED);
            return 1;
        }
    }
    return 0;
}

static __always_inline void fill_header(struct vg_header *h, struct task_struct *t, __u32 type,
                                        struct file_key *k)
{
    h->type = type;
    h->ktime_ns = bpf_ktime_get_boot_ns();
    h->start_time = t->group_leader->start_boottime;
    h->cgroup_id = t->cgroups->dfl_cgrp->kn->id;
    h->exe_ino = k->ino;
    h->exe_dev = k->dev;
    h->pid = t->pid;
    h->tgid = t->tgid;
    h->ppid = t->real_parent->tgid;
    struct signal_struct *sig = t->signal;
    h->pgid = sig->pids[PIDTYPE_PGID]->numbers[0].nr;
    h->sid = sig->pids[PIDTYPE_SID]->numbers[0].nr;
    const struct cred *c = t->cred;
    h->uid = c->uid.val;
    h->euid = c->euid.val;
    h->suid = c->suid.val;
    h->fsuid = c->fsuid.val;
    h->gid = c->gid.val;
    h->egid = c->egid.val;
    h->sgid = c->sgid.val;
    h->fsgid = c->fsgid.val;
    h->sessionid = t->sessionid;
    struct pid *tp = t->thread_pid;
    unsigned int level = tp->level;
    /* Variable index: not a direct load. */
    struct upid up;
    __builtin_memset(&up, 0, sizeof(up));
    bpf_probe_read_kernel(&up, sizeof(up), &tp->numbers[level & 31]);
    h->pns = BPF_CORE_READ(up.ns, ns.inum);
    /* Level 0 of any pid is the initial pid namespace: the host's. */
    h->root_pns = tp->numbers[0].ns->ns.inum;
    h->uts_ns = t->nsproxy->uts_ns->ns.inum;
    h->ret = 0;
    h->nstr = 0;
    h->flags = t->mm ? 0 : VG_F_KTHREAD;
    __u64 *comm = (__u64 *)h->comm;
    comm[0] = *(__u64 *)&t->comm[0];
    comm[1] = *(__u64 *)&t->comm[8];
}

/* Appends a string read by `read_str` (user or kernel), length-prefixed. Returns the new
 * offset. `cap` bounds the copy (<= VG_MAX_STR). */
static __always_inline __u32 put_user_str(struct scratch *s, struct vg_header *h, __u32 off,
                                          const void *src, __u32 cap)
{
    off &= (VG_MAX_RECORD - 1);
    __u16 *lenp = (__u16 *)&s->buf[off];
    __u32 room = VG_MAX_RECORD - 1 - off;
    long n = 0;
    if (room > 2 && src) {
        __u32 max = room - 2;
        if (max > cap)
            max = cap;
        if (max > VG_MAX_STR)
            max = VG_MAX_STR;
        n = bpf_probe_read_user_str(&s->buf[(off + 2) & (VG_MAX_RECORD - 1)], max, src);
        if (n > 0)
            n -= 1; /* without the NUL */
        else
            n = 0;
        if (n + 1 >= max)
            h->flags |= VG_F_TRUNCATED;
    }
    if (room < 2)
        return off;
    *lenp = (__u16)n;
    h->nstr++;
    return off + 2 + (__u32)n;
}

static __always_inline __u32 put_kernel_str(struct scratch *s, struct vg_header *h, __u32 off,
                                            const void *src, __u32 cap)
{
    off &= (VG_MAX_RECORD - 1);
    __u32 room = VG_MAX_RECORD - 1 - off;
    if (room < 2)
        return off;
    __u16 *lenp = (__u16 *)&s->buf[off];
    long n = 0;
    if (src) {
        __u32 max = room - 2;
        if (max > cap)
            max = cap;
        if (max > VG_MAX_STR)
            max = VG_MAX_STR;
        n = bpf_probe_read_kernel_str(&s->buf[(off + 2) & (VG_MAX_RECORD - 1)], max, src);
        n = n > 0 ? n - 1 : 0;
    }
    *lenp = (__u16)n;
    h->nstr++;
    return off + 2 + (__u32)n;
}

/* Raw bytes from user memory (argv, environment, DNS payload). */
static __always_inline __u32 put_user_bytes(struct scratch *s, struct vg_header *h, __u32 off,
                                            const void *src, __u64 len, __u32 cap)
{
    off &= (VG_MAX_RECORD - 1);
    __u32 room = VG_MAX_RECORD - 1 - off;
    if (room < 2)
        return off;
    __u16 *lenp = (__u16 *)&s->buf[off];
    __u32 max = room - 2;
    if (max > cap)
        max = cap;
    if (max > VG_MAX_STR)
        max = VG_MAX_STR;
    if (len > max) {
        len = max;
        h->flags |= VG_F_TRUNCATED;
    }
    __u32 n = (__u32)len & (VG_MAX_STR * 2 - 1);
    if (n > VG_MAX_STR)
        n = VG_MAX_STR;
    if (!src || bpf_probe_read_user(&s->buf[(off + 2) & (VG_MAX_RECORD - 1)], n, src) != 0)
        n = 0;
    *lenp = (__u16)n;
    h->nstr++;
    return off + 2 + n;
}

static __always_inline __u32 put_empty(struct scratch *s, struct vg_header *h, __u32 off)
{
    off &= (VG_MAX_RECORD - 1);
    if (VG_MAX_RECORD - 1 - off < 2)
        return off;
    *(__u16 *)&s->buf[off] = 0;
    h->nstr++;
    return off + 2;
}

/* Appends the absolute path of (dentry, vfsmount), walking dentries up and across mounts
 * (bpf_d_path is refused in tracepoint programs). Deeper paths keep their last PATH_DEPTH
 * components and are marked truncated. A global function: verified once, not per call site.
 * Returns the new offset. */
/* Kernel pointers that are plain numbers (read from a map, computed) become BTF pointers again
 * with bpf_rdonly_cast, so that their fields can be read with direct loads. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define AS_DENTRY(p) ((struct dentry *)bpf_rdonly_cast((p), bpf_core_type_id_kernel(struct dentry)))
#define AS_MOUNT(p) ((struct mount *)bpf_rdonly_cast((p), bpf_core_type_id_kernel(struct mount)))

struct walk_ctx {
    struct scratch *s;
    __u64 dentry;   /* struct dentry *, as a number */
    __u64 mnt;      /* struct mount * */
    __u64 mnt_root; /* mnt->mnt.mnt_root */
    __u32 n;
    __u32 start;
    __u32 pos;
    __u32 truncated;
};

/* One step up the dentry tree (bpf_loop callback: verified once). */
static long walk_up(__u64 i, struct walk_ctx *c)
{
    if (!c->dentry)
        return 1;
    struct dentry *dentry = AS_DENTRY((void *)c->dentry);
    __u64 parent = (__u64)dentry->d_parent;
    if (c->dentry == c->mnt_root || c->dentry == parent) {
        struct mount *mnt = AS_MOUNT((void *)c->mnt);
        __u64 mp = (__u64)mnt->mnt_parent;
        if (c->dentry != c->mnt_root || mp == c->mnt || !mp)
            return 1; /* the root of the namespace (or an unmounted dentry) */
        c->dentry = (__u64)mnt->mnt_mountpoint;
        c->mnt = mp;
        c->mnt_root = (__u64)AS_MOUNT((void *)mp)->mnt.mnt_root;
        return 0;
    }
    if (c->n >= PATH_DEPTH) {
        c->truncated = 1;
        return 1;
    }
    __u32 n = c->n & (PATH_DEPTH - 1);
    c->s->dents[n] = (struct dentry *)c->dentry;
    c->n = n + 1;
    c->dentry = parent;
    return 0;
}

/* Writes "/<name>" of dents[n - 1 - i] (bpf_loop callback). */
static long write_down(__u64 i, struct walk_ctx *c)
{
    if (i >= c->n)
        return 1;
    if (c->pos > VG_MAX_STR - NAME_CAP - 1) {
        c->truncated = 1;
        return 1;
    }
    struct dentry *d = AS_DENTRY(c->s->dents[(c->n - 1 - (__u32)i) & (PATH_DEPTH - 1)]);
    const unsigned char *name = d->d_name.name;
    /* Offsets are masked so that every iteration has the same value range: the verifier
     * then sees one state per loop position instead of one per possible length. */
    __u32 pos = c->pos & (VG_MAX_STR - 1);
    c->s->buf[(c->start + pos) & (VG_MAX_RECORD - 1)] = '/';
    pos++;
    long r = bpf_probe_read_kernel_str(&c->s->buf[(c->start + pos) & (VG_MAX_RECORD - 1)],
                                       NAME_CAP, name);
    if (r > 1)
        pos += r - 1;
    c->pos = pos & (VG_MAX_STR - 1);
    return 0;
}

/* A global function: the verifier checks it once, not at each of its call sites. */
__noinline int vg_put_path(struct scratch *s, __u32 off, __u64 dentry_p, __u64 vfsmnt_p)
{
    if (!s)
        return 0;
    struct vg_header *h = (struct vg_header *)s->buf;
    struct dentry *dentry = (struct dentry *)dentry_p;
    struct vfsmount *vfsmnt = (struct vfsmount *)vfsmnt_p;
    off &= (VG_MAX_RECORD - 1);
    if (VG_MAX_RECORD - 1 - off < 2 + VG_MAX_STR)
        return put_empty(s, h, off);
    if (!vfsmnt)
        return put_empty(s, h, off);
    struct mount *mnt = AS_MOUNT((void *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt)));
    struct walk_ctx c = {
        .s = s,
        .dentry = (__u64)dentry,
        .mnt = (__u64)mnt,
        .mnt_root = (__u64)mnt->mnt.mnt_root,
        .start = off + 2,
    };
    bpf_loop(PATH_DEPTH + 8, walk_up, &c, 0);
    if (c.n == 0) {
        s->buf[c.start & (VG_MAX_RECORD - 1)] = '/';
        c.pos = 1;
    } else {
        bpf_loop(PATH_DEPTH, write_down, &c, 0);
    }
    if (c.truncated)
        h->flags |= VG_F_TRUNCATED;
    __u32 pos = c.pos & (VG_MAX_STR * 2 - 1);
    *(__u16 *)&s->buf[off] = (__u16)pos;
    h->nstr++;
    return off + 2 + pos;
}

static __always_inline __u32 put_path(struct scratch *s, struct vg_header *h, __u32 off,
                                      struct dentry *dentry, struct vfsmount *vfsmnt)
{
    return (__u32)vg_put_path(s, off, (__u64)dentry, (__u64)vfsmnt);
}


static __always_inline struct file *fd_file(struct task_struct *t, long fd)
{
    if (fd < 0)
        return 0;
    struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
    unsigned int max = BPF_CORE_READ(fdt, max_fds);
    if ((unsigned long)fd >= max)
        return 0;
    struct file **fds = BPF_CORE_READ(fdt, fd);
    struct file *f = 0;
    bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
    return f;
}

static __always_inline __u32 put_file_path(struct scratch *s, struct vg_header *h, __u32 off,
                                           struct file *f)
{
    if (!f)
        return put_empty(s, h, off);
    struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
    struct vfsmount *m = BPF_CORE_READ(f, f_path.mnt);
    return put_path(s, h, off, d, m);
}

static __always_inline __u32 put_cwd(struct scratch *s, struct vg_header *h, __u32 off,
                                     struct task_struct *t)
{
    struct dentry *d = BPF_CORE_READ(t, fs, pwd.dentry);
    struct vfsmount *m = BPF_CORE_READ(t, fs, pwd.mnt);
    return put_path(s, h, off, d, m);
}

/* The directory a path argument is relative to: "" for an absolute path, the cwd for
 * AT_FDCWD, else the directory fd's path. */
static __always_inline __u32 put_base(struct scratch *s, struct vg_header *h, __u32 off,
                                      struct task_struct *t, long dirfd, const char *upath)
{
    char first = 0;
    bpf_probe_read_user(&first, 1, upath);
    if (first == '/' || !upath)
        return put_empty(s, h, off);
    if ((int)dirfd == AT_FDCWD)
        return put_cwd(s, h, off, t);
    return put_file_path(s, h, off, fd_file(t, dirfd));
}

static __always_inline void sock_addrs(struct sock *sk, struct vg_sockaddr *a)
{
    a->family = BPF_CORE_READ(sk, __sk_common.skc_family);
    a->protocol = BPF_CORE_READ(sk, sk_protocol);
    a->dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
    a->sport = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
    if (a->family == AF_INET) {
        __u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
        __u32 sa = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
        __builtin_memcpy(a->daddr, &d, 4);
        __builtin_memcpy(a->saddr, &sa, 4);
    } else if (a->family == AF_INET6) {
        BPF_CORE_READ_INTO(&a->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
        BPF_CORE_READ_INTO(&a->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    }
}

static __always_inline struct sock *file_sock(struct file *f)
{
    if (!f)
        return 0;
    umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
    if ((mode & S_IFMT) != S_IFSOCK)
        return 0;
    struct socket *so = BPF_CORE_READ(f, private_data);
    return BPF_CORE_READ(so, sk);
}

/* Sends the record built in s->buf[0..off). Wakes user space only when the ring is filling. */
static __always_inline void submit(struct scratch *s, __u32 off, __u32 slot)
{
    struct vg_header *h = (struct vg_header *)s->buf;
    __u32 size = off & (VG_MAX_RECORD - 1);
    if (size < sizeof(*h))
        return;
    h->size = size;
    __u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    __u64 flags = avail >= wake_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
    if (bpf_ringbuf_output(&events, s->buf, size, flags) == 0)
        count(slot, VG_CNT_EMITTED);
    else
        count(slot, VG_CNT_DROPPED);
}

/* Common start of every event: filters, scratch, header. NULL when the event is dropped. */
static __always_inline struct scratch *begin(struct task_struct *t, __u32 type, __u32 slot,
                                             struct vg_config **cfgp)
{
    struct vg_config *cfg = get_config();
    struct file_key k;
    exe_key(t, &k);
    if (filtered(cfg, t, slot, &k))
        return 0;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    fill_header((struct vg_header *)s->buf, t, type, &k);
    if (cfgp)
        *cfgp = cfg;
    return s;
}

#define HDR(s) ((struct vg_header *)(s)->buf)

static __always_inline struct pt_regs *cur_regs(struct task_struct *t)
{
    return (struct pt_regs *)bpf_task_pt_regs(t);
}

/* ---- execve ----------------------------------------------------------------------------- */

static __always_inline __u8 fd_kind(umode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return VG_FD_FILE;
    case S_IFCHR:
        return VG_FD_CHAR;
    case S_IFIFO:
        return VG_FD_PIPE;
    case S_IFSOCK:
        return VG_FD_SOCKET;
    case 0:
        return VG_FD_NONE;
    default:
        return VG_FD_OTHER;
    }
}

struct hash_ctx {
    struct scratch *s;
    __u32 start;
    __u32 len;
    __u64 h;
};

static long fnv1a_step(__u64 i, struct hash_ctx *c)
{
    if (i >= c->len)
        return 1;
    c->h ^= c->s->buf[(c->start + i) & (VG_MAX_RECORD - 1)];
    c->h *= 0x100000001b3ULL;
    return 0;
}

/* FNV-1a 64 of buf[start, start + len): the argv allow-list key (user space computes the same). */
static __always_inline __u64 fnv1a(struct scratch *s, __u32 start, __u32 len)
{
    struct hash_ctx c = {.s = s, .start = start, .len = len, .h = 0xcbf29ce484222325ULL};
    bpf_loop(VG_ARGV_MAX, fnv1a_step, &c, 0);
    return c.h;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct vg_config *cfg = 0;
    struct scratch *s = begin(t, VG_EXECVE, VG_SLOT_EXECVE, &cfg);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    struct vg_exec *e = (struct vg_exec *)(s->buf + sizeof(*h));
    __builtin_memset(e, 0, sizeof(*e));

    struct file *exe = BPF_CORE_READ(bprm, file);
    struct inode *ei = BPF_CORE_READ(exe, f_inode);
    e->exe_size = BPF_CORE_READ(ei, i_size);
    e->exe_mtime = BPF_CORE_READ(ei, i_mtime_sec);
    e->exe_mode = BPF_CORE_READ(ei, i_mode);
    h->exe_ino = BPF_CORE_READ(ei, i_ino);
    h->exe_dev = BPF_CORE_READ(ei, i_sb, s_dev);

    struct file *f0 = fd_file(t, 0);
    struct file *f1 = fd_file(t, 1);
    struct inode *i0 = BPF_CORE_READ(f0, f_inode);
    struct inode *i1 = BPF_CORE_READ(f1, f_inode);
    e->stdin_kind = f0 ? fd_kind(BPF_CORE_READ(i0, i_mode)) : VG_FD_NONE;
    e->stdout_kind = f1 ? fd_kind(BPF_CORE_READ(i1, i_mode)) : VG_FD_NONE;
    e->stdin_ino = f0 ? BPF_CORE_READ(i0, i_ino) : 0;
    e->stdout_ino = f1 ? BPF_CORE_READ(i1, i_ino) : 0;
    e->stdin_rdev = e->stdin_kind == VG_FD_CHAR ? BPF_CORE_READ(i0, i_rdev) : 0;
    e->stdout_rdev = e->stdout_kind == VG_FD_CHAR ? BPF_CORE_READ(i1, i_rdev) : 0;
    if (e->stdin_kind == VG_FD_SOCKET) {
        struct sock *sk = file_sock(f0);
        if (sk)
            sock_addrs(sk, &e->stdin_sock);
    }

    struct task_struct *a = t->real_parent;
    __u16 na = 0;
    for (int i = 0; i < VG_MAX_ANCESTORS; i++) {
        if (!a)
            break;
        __u32 tg = a->tgid;
        e->ancestors[i].tgid = tg;
        __u64 *comm = (__u64 *)e->ancestors[i].comm;
        comm[0] = *(__u64 *)&a->comm[0];
        comm[1] = *(__u64 *)&a->comm[8];
        na++;
        if (tg <= 1)
            break;
        a = a->real_parent;
    }
    e->n_ancestors = na;

    __u32 off = sizeof(*h) + sizeof(*e);
    /* exe */
    off = put_path(s, h, off, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt));
    /* argv */
    struct mm_struct *mm = BPF_CORE_READ(t, mm);
    unsigned long as = BPF_CORE_READ(mm, arg_start), ae = BPF_CORE_READ(mm, arg_end);
    __u32 argv_at = (off + 2) & (VG_MAX_RECORD - 1);
    off = put_user_bytes(s, h, off, (const void *)as, ae > as ? ae - as : 0, VG_ARGV_MAX);
    if (cfg && (cfg->flags & VG_CFG_ARGV_ALLOWLIST)) {
        __u16 alen = *(__u16 *)&s->buf[(argv_at - 2) & (VG_MAX_RECORD - 1)];
        __u64 hash = fnv1a(s, argv_at, alen);
        if (bpf_map_lookup_elem(&argv_allow, &hash)) {
            count(VG_SLOT_EXECVE, VG_CNT_FILTERED);
            return 0;
        }
    }
    /* cwd */
    off = put_cwd(s, h, off, t);
    /* tty */
    struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
    if (tty)
        off = put_kernel_str(s, h, off, tty->name, 64);
    else
        off = put_empty(s, h, off);
    /* environment excerpt */
    unsigned long es = BPF_CORE_READ(mm, env_start), ee = BPF_CORE_READ(mm, env_end);
    off = put_user_bytes(s, h, off, (const void *)es, ee > es ? ee - es : 0, VG_ENV_MAX);
    /* stdin, stdout paths: regular files only (terminals are named by rdev in user space) */
    if (e->stdin_kind == VG_FD_FILE)
        off = put_file_path(s, h, off, f0);
    else
        off = put_empty(s, h, off);
    if (e->stdout_kind == VG_FD_FILE)
        off = put_file_path(s, h, off, f1);
    else
        off = put_empty(s, h, off);
    /* nodename */
    off = put_kernel_str(s, h, off, BPF_CORE_READ(t, nsproxy, uts_ns, name.nodename), 65);
    submit(s, off, VG_SLOT_EXECVE);
    return 0;
}

static __always_inline int failed_exec(long ret, const char *upath)
{
    if (ret >= 0)
        return 0;
    struct task_struct *t = bpf_get_current_task_btf();
    struct scratch *s = begin(t, VG_EXECVE, VG_SLOT_EXECVE, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ret;
    struct vg_exec *e = (struct vg_exec *)(s->buf + sizeof(*h));
    __builtin_memset(e, 0, sizeof(*e));
    __u32 off = sizeof(*h) + sizeof(*e);
    off = put_user_str(s, h, off, upath, VG_MAX_STR);
    off = put_empty(s, h, off); /* argv */
    off = put_cwd(s, h, off, t);
    submit(s, off, VG_SLOT_EXECVE);
    return 0;
}

SEC("tp/syscalls/sys_exit_execve")
int on_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
    if (ctx->ret >= 0)
        return 0;
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return failed_exec(ctx->ret, (const char *)r->di);
}

SEC("tp/syscalls/sys_exit_execveat")
int on_exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
    if (ctx->ret >= 0)
        return 0;
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return failed_exec(ctx->ret, (const char *)r->si);
}

/* ---- sockets ---------------------------------------------------------------------------- */

static __always_inline int sock_event(struct bpf_sock_addr *ctx, __u32 type, __u32 slot,
                                      const int is6)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct vg_config *cfg = 0;
    __u32 family = is6 ? AF_INET6 : AF_INET; /* connect4 programs may not read user_ip6 */
    if (!is6) {
        struct vg_config *c = get_config();
        if (c && (c->flags & VG_CFG_DROP_LOOPBACK_CONNECT) && type == VG_CONNECT &&
            (bpf_ntohl(ctx->user_ip4) >> 24) == 127) {
            count(slot, VG_CNT_FILTERED);
            return 1;
        }
    }
    struct scratch *s = begin(t, type, slot, &cfg);
    if (!s)
        return 1;
    struct vg_header *h = HDR(s);
    struct vg_sock_event *e = (struct vg_sock_event *)(s->buf + sizeof(*h));
    __builtin_memset(e, 0, sizeof(*e));
    e->addr.family = family;
    e->addr.protocol = ctx->protocol;
    e->addr.dport = (__u16)ctx->user_port;
    if (!is6) {
        __u32 ip = ctx->user_ip4;
        __builtin_memcpy(e->addr.daddr, &ip, 4);
    } else {
        if (cfg && (cfg->flags & VG_CFG_DROP_LOOPBACK_CONNECT) && type == VG_CONNECT &&
            ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 && ctx->user_ip6[2] == 0 &&
            ctx->user_ip6[3] == bpf_htonl(1)) {
            count(slot, VG_CNT_FILTERED);
            return 1;
        }
        __u32 w[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
        __builtin_memcpy(e->addr.daddr, w, 16);
    }
    struct bpf_sock *sk = ctx->sk;
    if (sk) {
        e->addr.sport = bpf_htons((__u16)sk->src_port);
        if (!is6) {
            __u32 sip = sk->src_ip4;
            __builtin_memcpy(e->addr.saddr, &sip, 4);
        }
    }
    submit(s, sizeof(*h) + sizeof(*e), slot);
    return 1;
}

SEC("cgroup/connect4")
int on_connect4(struct bpf_sock_addr *ctx)
{
    return sock_event(ctx, VG_CONNECT, VG_SLOT_CONNECT, 0);
}

SEC("cgroup/connect6")
int on_connect6(struct bpf_sock_addr *ctx)
{
    return sock_event(ctx, VG_CONNECT, VG_SLOT_CONNECT, 1);
}

static __always_inline int bind_event(struct bpf_sock *sk, const int is6)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct scratch *s = begin(t, VG_BIND, VG_SLOT_BIND, 0);
    if (!s)
        return 1;
    struct vg_header *h = HDR(s);
    struct vg_sock_event *e = (struct vg_sock_event *)(s->buf + sizeof(*h));
    __builtin_memset(e, 0, sizeof(*e));
    e->addr.family = is6 ? AF_INET6 : AF_INET; /* post_bind4 may not read src_ip6 */
    e->addr.protocol = sk->protocol;
    e->addr.sport = bpf_htons((__u16)sk->src_port);
    if (!is6) {
        __u32 ip = sk->src_ip4;
        __builtin_memcpy(e->addr.saddr, &ip, 4);
    } else {
        __u32 w[4] = {sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3]};
        __builtin_memcpy(e->addr.saddr, w, 16);
    }
    submit(s, sizeof(*h) + sizeof(*e), VG_SLOT_BIND);
    return 1;
}

SEC("cgroup/post_bind4")
int on_bind4(struct bpf_sock *sk)
{
    return bind_event(sk, 0);
}

SEC("cgroup/post_bind6")
int on_bind6(struct bpf_sock *sk)
{
    return bind_event(sk, 1);
}

static __always_inline int accept_event(long ret)
{
    if (ret < 0)
        return 0;
    struct task_struct *t = bpf_get_current_task_btf();
    struct sock *sk = file_sock(fd_file(t, ret));
    if (!sk)
        return 0;
    struct scratch *s = begin(t, VG_ACCEPT, VG_SLOT_ACCEPT, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ret;
    struct vg_sock_event *e = (struct vg_sock_event *)(s->buf + sizeof(*h));
    __builtin_memset(e, 0, sizeof(*e));
    sock_addrs(sk, &e->addr);
    submit(s, sizeof(*h) + sizeof(*e), VG_SLOT_ACCEPT);
    return 0;
}

SEC("tp/syscalls/sys_exit_accept4")
int on_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
    return accept_event(ctx->ret);
}

SEC("tp/syscalls/sys_exit_accept")
int on_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
    return accept_event(ctx->ret);
}

/* DNS: an answer read from a UDP socket whose peer port is 53. */
static __always_inline int dns_event(long ret, long fd, const void *ubuf,
                                     const struct sockaddr_in *uaddr)
{
    if (ret < 12)
        return 0;
    struct task_struct *t = bpf_get_current_task_btf();
    struct sock *sk = file_sock(fd_file(t, fd));
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
        return 0;
    struct vg_sockaddr a;
    __builtin_memset(&a, 0, sizeof(a));
    sock_addrs(sk, &a);
    if (a.dport == 0 && uaddr) {
        struct sockaddr_in sin;
        if (bpf_probe_read_user(&sin, sizeof(sin), uaddr) == 0 &&
            (sin.sin_family == AF_INET || sin.sin_family == AF_INET6)) {
            a.dport = sin.sin_port;
            if (sin.sin_family == AF_INET)
                __builtin_memcpy(a.daddr, &sin.sin_addr.s_addr, 4);
        }
    }
    if (a.dport != bpf_htons(53))
        return 0;
    struct scratch *s = begin(t, VG_DNS, VG_SLOT_DNS, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ret;
    struct vg_dns *e = (struct vg_dns *)(s->buf + sizeof(*h));
    e->addr = a;
    __u32 off = sizeof(*h) + sizeof(*e);
    off = put_user_bytes(s, h, off, ubuf, ret, VG_DNS_MAX);
    submit(s, off, VG_SLOT_DNS);
    return 0;
}

SEC("tp/syscalls/sys_exit_recvfrom")
int on_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
    if (ctx->ret < 12)
        return 0;
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return dns_event(ctx->ret, r->di, (const void *)r->si, (const struct sockaddr_in *)r->r8);
}

SEC("tp/syscalls/sys_exit_recvmsg")
int on_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
    if (ctx->ret < 12)
        return 0;
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    struct user_msghdr msg;
    if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)r->si) != 0)
        return 0;
    struct iovec iov;
    if (!msg.msg_iov || bpf_probe_read_user(&iov, sizeof(iov), msg.msg_iov) != 0)
        return 0;
    return dns_event(ctx->ret, r->di, iov.iov_base, (const struct sockaddr_in *)msg.msg_name);
}

/* ---- files ------------------------------------------------------------------------------ */

static __always_inline int two_paths(long ret, __u32 type, __u32 slot, long olddfd,
                                     const char *oldp, long newdfd, const char *newp)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct scratch *s = begin(t, type, slot, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ret;
    __u32 off = sizeof(*h);
    off = put_user_str(s, h, off, oldp, VG_MAX_STR);
    off = put_user_str(s, h, off, newp, VG_MAX_STR);
    off = put_base(s, h, off, t, olddfd, oldp);
    off = put_base(s, h, off, t, newdfd, newp);
    submit(s, off, slot);
    return 0;
}

SEC("tp/syscalls/sys_exit_rename")
int on_exit_rename(struct trace_event_raw_sys_exit *ctx)
{
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return two_paths(ctx->ret, VG_RENAME, VG_SLOT_RENAME, AT_FDCWD, (const char *)r->di,
                     AT_FDCWD, (const char *)r->si);
}

static __always_inline int renameat_common(long ret)
{
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return two_paths(ret, VG_RENAME, VG_SLOT_RENAME, r->di, (const char *)r->si, r->dx,
                     (const char *)r->r10);
}

SEC("tp/syscalls/sys_exit_renameat")
int on_exit_renameat(struct trace_event_raw_sys_exit *ctx)
{
    return renameat_common(ctx->ret);
}

SEC("tp/syscalls/sys_exit_renameat2")
int on_exit_renameat2(struct trace_event_raw_sys_exit *ctx)
{
    return renameat_common(ctx->ret);
}

SEC("tp/syscalls/sys_exit_link")
int on_exit_link(struct trace_event_raw_sys_exit *ctx)
{
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return two_paths(ctx->ret, VG_LINK, VG_SLOT_LINK, AT_FDCWD, (const char *)r->di, AT_FDCWD,
                     (const char *)r->si);
}

SEC("tp/syscalls/sys_exit_linkat")
int on_exit_linkat(struct trace_event_raw_sys_exit *ctx)
{
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return two_paths(ctx->ret, VG_LINK, VG_SLOT_LINK, r->di, (const char *)r->si, r->dx,
                     (const char *)r->r10);
}

static __always_inline int file_event_fd(long ret, __u32 type, __u32 slot, struct file *f,
                                         __u32 flags)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct scratch *s = begin(t, type, slot, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ret;
    struct vg_file_event *e = (struct vg_file_event *)(s->buf + sizeof(*h));
    __builtin_memset(e, 0, sizeof(*e));
    e->flags = flags;
    e->mode = BPF_CORE_READ(f, f_inode, i_mode);
    __u32 off = sizeof(*h) + sizeof(*e);
    off = put_file_path(s, h, off, f);
    off = put_empty(s, h, off);
    submit(s, off, slot);
    return 0;
}

/* openat/open/creat/openat2 exits: a file this open created (602), or any open (2, off by
 * default). FMODE_CREATED on the new file says whether this call created it. `flags` are the
 * flags asked for (the kernel drops O_CREAT, O_EXCL and O_TRUNC from f_flags). */
static __always_inline int open_exit(long ret, __u32 flags)
{
    if (ret < 0)
        return 0;
    struct vg_config *cfg = get_config();
    __u64 enabled = cfg ? cfg->enabled : 0;
    /* Filter first: without O_CREAT nothing was created (most opens stop here). */
    if (!(flags & 0100) && !(enabled & (1ULL << VG_SLOT_OPEN)))
        return 0;
    struct task_struct *t = bpf_get_current_task_btf();
    struct file *f = fd_file(t, ret);
    if (!f)
        return 0;
    __u32 fmode = BPF_CORE_READ(f, f_mode);
    if ((fmode & FMODE_CREATED) && (enabled & (1ULL << VG_SLOT_CREATE)))
        return file_event_fd(ret, VG_FILE_CREATE, VG_SLOT_CREATE, f, flags);
    if (enabled & (1ULL << VG_SLOT_OPEN))
        return file_event_fd(ret, VG_OPEN, VG_SLOT_OPEN, f, flags);
    return 0;
}

SEC("tp/syscalls/sys_exit_openat")
int on_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
    if (ctx->ret < 0)
        return 0;
    return open_exit(ctx->ret, cur_regs(bpf_get_current_task_btf())->dx);
}

SEC("tp/syscalls/sys_exit_open")
int on_exit_open(struct trace_event_raw_sys_exit *ctx)
{
    if (ctx->ret < 0)
        return 0;
    return open_exit(ctx->ret, cur_regs(bpf_get_current_task_btf())->si);
}

SEC("tp/syscalls/sys_exit_creat")
int on_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
    return open_exit(ctx->ret, 01 | 0100 | 01000); /* O_WRONLY | O_CREAT | O_TRUNC */
}

SEC("tp/syscalls/sys_exit_openat2")
int on_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
    if (ctx->ret < 0)
        return 0;
    __u64 how_flags = 0;
    bpf_probe_read_user(&how_flags, sizeof(how_flags),
                        (const void *)cur_regs(bpf_get_current_task_btf())->dx);
    return open_exit(ctx->ret, (__u32)how_flags);
}

static __always_inline int unlink_common(long ret, long dirfd, const char *upath)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct scratch *s = begin(t, VG_UNLINK, VG_SLOT_UNLINK, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ret;
    struct vg_file_event *e = (struct vg_file_event *)(s->buf + sizeof(*h));
    __builtin_memset(e, 0, sizeof(*e));
    __u32 off = sizeof(*h) + sizeof(*e);
    off = put_user_str(s, h, off, upath, VG_MAX_STR);
    off = put_base(s, h, off, t, dirfd, upath);
    submit(s, off, VG_SLOT_UNLINK);
    return 0;
}

SEC("tp/syscalls/sys_exit_unlink")
int on_exit_unlink(struct trace_event_raw_sys_exit *ctx)
{
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return unlink_common(ctx->ret, AT_FDCWD, (const char *)r->di);
}

SEC("tp/syscalls/sys_exit_unlinkat")
int on_exit_unlinkat(struct trace_event_raw_sys_exit *ctx)
{
    struct pt_regs *r = cur_regs(bpf_get_current_task_btf());
    return unlink_common(ctx->ret, r->di, (const char *)r->si);
}

static __always_inline int rw_event(long ret, __u32 type, __u32 slot)
{
    if (ret < 0)
        return 0;
    struct task_struct *t = bpf_get_current_task_btf();
    struct pt_regs *r = cur_regs(t);
    struct file *f = fd_file(t, r->di);
    if (!f)
        return 0;
    struct file_key k = {};
    struct inode *ino = BPF_CORE_READ(f, f_inode);
    k.ino = BPF_CORE_READ(ino, i_ino);
    k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
    if (!bpf_map_lookup_elem(&watch_files, &k))
        return 0;
    return file_event_fd(ret, type, slot, f, BPF_CORE_READ(f, f_flags));
}

SEC("tp/syscalls/sys_exit_write")
int on_exit_write(struct trace_event_raw_sys_exit *ctx)
{
    return rw_event(ctx->ret, VG_WRITE, VG_SLOT_WRITE);
}

SEC("tp/syscalls/sys_exit_read")
int on_exit_read(struct trace_event_raw_sys_exit *ctx)
{
    return rw_event(ctx->ret, VG_READ, VG_SLOT_READ);
}

/* ---- processes -------------------------------------------------------------------------- */

SEC("tp/syscalls/sys_exit_ptrace")
int on_exit_ptrace(struct trace_event_raw_sys_exit *ctx)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct pt_regs *r = cur_regs(t);
    long req = r->di;
    if (req != PTRACE_POKETEXT && req != PTRACE_POKEDATA)
        return 0;
    struct scratch *s = begin(t, VG_PTRACE, VG_SLOT_PTRACE, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ctx->ret;
    struct vg_ptrace *e = (struct vg_ptrace *)(s->buf + sizeof(*h));
    e->request = req;
    e->target_pid = r->si;
    e->addr = r->dx;
    e->data = r->r10;
    e->pad = 0;
    submit(s, sizeof(*h) + sizeof(*e), VG_SLOT_PTRACE);
    return 0;
}

SEC("tp/syscalls/sys_exit_setsid")
int on_exit_setsid(struct trace_event_raw_sys_exit *ctx)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct scratch *s = begin(t, VG_SETSID, VG_SLOT_SETSID, 0);
    if (!s)
        return 0;
    HDR(s)->ret = ctx->ret;
    submit(s, sizeof(struct vg_header), VG_SLOT_SETSID);
    return 0;
}

SEC("tp/syscalls/sys_exit_prctl")
int on_exit_prctl(struct trace_event_raw_sys_exit *ctx)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct pt_regs *r = cur_regs(t);
    long option = r->di;
    if (option != PR_SET_NAME)
        return 0;
    struct scratch *s = begin(t, VG_PRCTL, VG_SLOT_PRCTL, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ctx->ret;
    struct vg_prctl *e = (struct vg_prctl *)(s->buf + sizeof(*h));
    e->option = option;
    e->pad = 0;
    __u32 off = sizeof(*h) + sizeof(*e);
    off = put_user_str(s, h, off, (const char *)r->si, VG_COMM_LEN);
    submit(s, off, VG_SLOT_PRCTL);
    return 0;
}

SEC("tp/syscalls/sys_exit_mount")
int on_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct pt_regs *r = cur_regs(t);
    struct scratch *s = begin(t, VG_MOUNT, VG_SLOT_MOUNT, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ctx->ret;
    struct vg_mount *e = (struct vg_mount *)(s->buf + sizeof(*h));
    e->flags = r->r10;
    __u32 off = sizeof(*h) + sizeof(*e);
    off = put_user_str(s, h, off, (const char *)r->di, 512);
    off = put_user_str(s, h, off, (const char *)r->si, VG_MAX_STR);
    off = put_user_str(s, h, off, (const char *)r->dx, 64);
    off = put_user_str(s, h, off, (const char *)r->r8, 512);
    submit(s, off, VG_SLOT_MOUNT);
    return 0;
}

SEC("tp/syscalls/sys_exit_memfd_create")
int on_exit_memfd_create(struct trace_event_raw_sys_exit *ctx)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct pt_regs *r = cur_regs(t);
    struct scratch *s = begin(t, VG_MEMFD_CREATE, VG_SLOT_MEMFD, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ctx->ret;
    struct vg_memfd *e = (struct vg_memfd *)(s->buf + sizeof(*h));
    e->flags = r->si;
    e->pad = 0;
    __u32 off = sizeof(*h) + sizeof(*e);
    off = put_user_str(s, h, off, (const char *)r->di, 256);
    submit(s, off, VG_SLOT_MEMFD);
    return 0;
}

SEC("tp/syscalls/sys_exit_kill")
int on_exit_kill(struct trace_event_raw_sys_exit *ctx)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct pt_regs *r = cur_regs(t);
    struct scratch *s = begin(t, VG_KILL, VG_SLOT_KILL, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    h->ret = ctx->ret;
    struct vg_kill *e = (struct vg_kill *)(s->buf + sizeof(*h));
    e->target_pid = r->di;
    e->sig = r->si;
    submit(s, sizeof(*h) + sizeof(*e), VG_SLOT_KILL);
    return 0;
}

static __always_inline int cred_event(long ret, __u32 nr)
{
    if (ret != 0)
        return 0;
    struct task_struct *t = bpf_get_current_task_btf();
    struct scratch *s = begin(t, VG_CRED_CHANGE, VG_SLOT_CRED, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    struct vg_cred *e = (struct vg_cred *)(s->buf + sizeof(*h));
    e->syscall = nr;
    const struct cred *pc = BPF_CORE_READ(t, real_parent, cred);
    e->parent_uid = BPF_CORE_READ(pc, uid.val);
    e->parent_euid = BPF_CORE_READ(pc, euid.val);
    e->pad = 0;
    submit(s, sizeof(*h) + sizeof(*e), VG_SLOT_CRED);
    return 0;
}

SEC("tp/syscalls/sys_exit_setuid")
int on_exit_setuid(struct trace_event_raw_sys_exit *ctx)
{
    return cred_event(ctx->ret, 105);
}

SEC("tp/syscalls/sys_exit_setreuid")
int on_exit_setreuid(struct trace_event_raw_sys_exit *ctx)
{
    return cred_event(ctx->ret, 113);
}

SEC("tp/syscalls/sys_exit_setresuid")
int on_exit_setresuid(struct trace_event_raw_sys_exit *ctx)
{
    return cred_event(ctx->ret, 117);
}

SEC("tp_btf/module_load")
int BPF_PROG(on_module_load, struct module *mod)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct scratch *s = begin(t, VG_MODULE_LOAD, VG_SLOT_MODULE, 0);
    if (!s)
        return 0;
    struct vg_header *h = HDR(s);
    __u32 off = sizeof(*h);
    off = put_kernel_str(s, h, off, mod->name, 64);
    submit(s, off, VG_SLOT_MODULE);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_process_exit, struct task_struct *p)
{
    struct task_struct *t = bpf_get_current_task_btf();
    if (t->pid != t->tgid)
        return 0; /* a thread, not the process */
    struct scratch *s = begin(t, VG_EXIT, VG_SLOT_EXIT, 0);
    if (!s)
        return 0;
    HDR(s)->ret = BPF_CORE_READ(t, exit_code);
    submit(s, sizeof(struct vg_header), VG_SLOT_EXIT);
    return 0;
}

/* ---- start-up snapshot ------------------------------------------------------------------ */

SEC("iter/task")
int snapshot(struct bpf_iter__task *ctx)
{
    struct seq_file *seq = ctx->meta->seq;
    struct task_struct *t = ctx->task;
    if (!t || t->pid != t->tgid)
        return 0;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct file_key k;
    exe_key(t, &k);
    struct vg_header *h = HDR(s);
    fill_header(h, t, VG_PROC_SNAPSHOT, &k);
    struct vg_snapshot *e = (struct vg_snapshot *)(s->buf + sizeof(*h));
    e->exe_size = 0;
    e->exe_mtime = 0;
    __u32 off = sizeof(*h) + sizeof(*e);
    struct mm_struct *mm = BPF_CORE_READ(t, mm);
    if (mm) {
        struct file *exe = BPF_CORE_READ(mm, exe_file);
        struct inode *ei = BPF_CORE_READ(exe, f_inode);
        e->exe_size = BPF_CORE_READ(ei, i_size);
        e->exe_mtime = BPF_CORE_READ(ei, i_mtime_sec);
        off = put_file_path(s, h, off, exe);
    } else {
        off = put_empty(s, h, off);
    }
    off = put_kernel_str(s, h, off, BPF_CORE_READ(t, nsproxy, uts_ns, name.nodename), 65);
    __u32 size = off & (VG_MAX_RECORD - 1);
    h->size = size;
    if (size >= sizeof(*h))
        bpf_seq_write(seq, s->buf, size);
    return 0;
}
