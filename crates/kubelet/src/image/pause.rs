//! Barge's own pause image, built at run time with no toolchain.
//!
//! Every pod sandbox runs one "pause" container: it holds the pod's namespaces and, when the
//! pod shares its PID namespace, is PID 1 there and reaps orphans. Upstream ships a small C
//! program (`build/pause/linux/pause.c`) in `registry.k8s.io/pause`. With no registry and no
//! compiler on the node, Barge writes an equivalent program directly: a 376-byte static
//! x86_64 Linux ELF whose machine code is assembled by hand below, instruction by
//! instruction. It behaves like upstream's:
//!
//! - SIGINT and SIGTERM run a handler that exits 0. As PID 1 of its PID namespace the
//!   process would otherwise ignore them (the kernel drops signals with the default action
//!   that reach a namespace's init), and the runtime would have to wait for SIGKILL.
//! - SIGCHLD runs a handler that reaps every exited child (`wait4(-1, NULL, WNOHANG, NULL)`
//!   until none is left), so orphans re-parented to it do not stay zombies.
//! - Otherwise it sleeps in `pause()` forever.
//! - If installing a handler fails it exits 1, as upstream returns 1.
//!
//! Unlike upstream it prints nothing and ignores its arguments (upstream's `-v` prints the
//! version). The image runs as 65535:65535 with entrypoint `/pause`, as upstream's does.
//! Only x86_64 is supported; other architectures get an error.

use anyhow::bail;

use super::oci::{Image, Layer};

/// The reference the pause image is imported under (and containerd's `sandbox_image`).
/// 3.10 is the pause version Kubernetes 1.32 uses.
pub const PAUSE_IMAGE: &str = "barge.local/pause:3.10";

/// Where the program is loaded: the first byte of the file maps to this address.
const BASE: u64 = 0x40_0000;
/// ELF header (64 bytes) + two program headers (56 bytes each).
const CODE: usize = 64 + 2 * 56;

// Offsets inside the code (from CODE) of the places the code and data refer to. The
// machine code below is written for exactly these values; `elf` checks them.
const L_LOOP: usize = 0x46;
const L_DIE: usize = 0x4f;
const L_ON_TERM: usize = 0x56;
const L_ON_CHLD: usize = 0x5f;
const L_RESTORER: usize = 0x7d;
const L_CODE_END: usize = 0x84;
/// The two `struct sigaction`s (32 bytes each) follow the code, 8-byte aligned.
const L_ACT_EXIT: usize = 0x88;
const L_ACT_REAP: usize = 0xa8;
const L_END: usize = 0xc8;

// Linux x86_64 system call numbers and constants.
const SYS_RT_SIGACTION: u8 = 13;
const SYS_RT_SIGRETURN: u8 = 15;
const SYS_PAUSE: u8 = 34;
const SYS_WAIT4: u8 = 61;
const SYS_EXIT_GROUP: u8 = 231;
const SIGINT: u8 = 2;
const SIGTERM: u8 = 15;
const SIGCHLD: u8 = 17;
const WNOHANG: u8 = 1;
/// The kernel requires a restorer on x86_64: without SA_RESTORER, delivering a signal to a
/// handler fails and the process is killed with SIGSEGV.
const SA_RESTORER: u64 = 0x0400_0000;
const SA_NOCLDSTOP: u64 = 0x1;

/// The machine code. Comments give the offset (from the start of the code), the
/// instruction, and what it is for. Relative displacements are worked out by hand from the
/// offsets: a jump's or a RIP-relative operand's displacement counts from the end of its
/// instruction.
fn code() -> Vec<u8> {
    let lea_exit = (L_ACT_EXIT - 0x11) as u8; // 0x77: lea at 0x0a ends at 0x11
    let lea_reap = (L_ACT_REAP - 0x40) as u8; // 0x68: lea at 0x39 ends at 0x40
    #[rustfmt::skip]
    let code = vec![
        // _start: rt_sigaction(SIGTERM, &act_exit, NULL, 8)
        0xb8, SYS_RT_SIGACTION, 0, 0, 0,   // 00: mov eax, 13        ; rt_sigaction
        0xbf, SIGTERM, 0, 0, 0,            // 05: mov edi, 15        ; signum = SIGTERM
        0x48, 0x8d, 0x35, lea_exit, 0, 0, 0, // 0a: lea rsi, [rip+0x77] ; act = &act_exit
        0x31, 0xd2,                        // 11: xor edx, edx       ; oldact = NULL
        0x41, 0xba, 8, 0, 0, 0,            // 13: mov r10d, 8        ; sigsetsize
        0x0f, 0x05,                        // 19: syscall            ; (keeps rsi, rdx, r10)
        0x85, 0xc0,                        // 1b: test eax, eax
        0x75, (L_DIE - 0x1f) as u8,        // 1d: jnz die (+0x30)    ; failed: exit 1
        // rt_sigaction(SIGINT, &act_exit, NULL, 8): rsi, rdx, r10 are unchanged
        0xb8, SYS_RT_SIGACTION, 0, 0, 0,   // 1f: mov eax, 13
        0xbf, SIGINT, 0, 0, 0,             // 24: mov edi, 2         ; signum = SIGINT
        0x0f, 0x05,                        // 29: syscall
        0x85, 0xc0,                        // 2b: test eax, eax
        0x75, (L_DIE - 0x2f) as u8,        // 2d: jnz die (+0x20)
        // rt_sigaction(SIGCHLD, &act_reap, NULL, 8)
        0xb8, SYS_RT_SIGACTION, 0, 0, 0,   // 2f: mov eax, 13
        0xbf, SIGCHLD, 0, 0, 0,            // 34: mov edi, 17        ; signum = SIGCHLD
        0x48, 0x8d, 0x35, lea_reap, 0, 0, 0, // 39: lea rsi, [rip+0x68] ; act = &act_reap
        0x0f, 0x05,                        // 40: syscall
        0x85, 0xc0,                        // 42: test eax, eax
        0x75, (L_DIE - 0x46) as u8,        // 44: jnz die (+0x09)
        // loop: for (;;) pause();
        0xb8, SYS_PAUSE, 0, 0, 0,          // 46: mov eax, 34        ; pause
        0x0f, 0x05,                        // 4b: syscall            ; returns after a handler ran
        0xeb, 0xf7,                        // 4d: jmp loop (-9)
        // die: exit_group(1)
        0xbf, 1, 0, 0, 0,                  // 4f: mov edi, 1
        0xeb, 0x02,                        // 54: jmp exit (+2)
        // on_term (handler for SIGINT and SIGTERM): exit_group(0)
        0x31, 0xff,                        // 56: xor edi, edi       ; status 0
        // exit:
        0xb8, SYS_EXIT_GROUP, 0, 0, 0,     // 58: mov eax, 231       ; exit_group
        0x0f, 0x05,                        // 5d: syscall            ; does not return
        // on_chld (handler for SIGCHLD): while (wait4(-1, NULL, WNOHANG, NULL) > 0);
        0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff, // 5f: mov rdi, -1 ; any child
        0x31, 0xf6,                        // 66: xor esi, esi       ; status = NULL
        0xba, WNOHANG, 0, 0, 0,            // 68: mov edx, 1         ; options = WNOHANG
        0x45, 0x31, 0xd2,                  // 6d: xor r10d, r10d     ; rusage = NULL
        0xb8, SYS_WAIT4, 0, 0, 0,          // 70: mov eax, 61        ; wait4
        0x0f, 0x05,                        // 75: syscall
        0x48, 0x85, 0xc0,                  // 77: test rax, rax
        0x7f, 0xe3,                        // 7a: jg on_chld (-0x1d) ; reaped one: try again
        0xc3,                              // 7c: ret                ; to the restorer (0 or -ECHILD)
        // restorer: rt_sigreturn() restores the interrupted context
        0xb8, SYS_RT_SIGRETURN, 0, 0, 0,   // 7d: mov eax, 15        ; rt_sigreturn
        0x0f, 0x05,                        // 82: syscall
        0, 0, 0, 0,                        // 84: padding to 8-byte alignment
    ];
    code
}

/// The kernel's `struct sigaction` on x86_64: handler, flags, restorer, mask (8 bytes each).
fn sigaction(handler: usize, flags: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(32);
    a.extend_from_slice(&addr(handler).to_le_bytes()); // sa_handler
    a.extend_from_slice(&flags.to_le_bytes()); // sa_flags
    a.extend_from_slice(&addr(L_RESTORER).to_le_bytes()); // sa_restorer
    a.extend_from_slice(&0u64.to_le_bytes()); // sa_mask: block nothing more
    a
}

/// The run-time address of an offset in the code.
fn addr(code_offset: usize) -> u64 {
    BASE + (CODE + code_offset) as u64
}

/// The pause program: a static x86_64 Linux executable.
pub fn pause_elf() -> anyhow::Result<Vec<u8>> {
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "the built-in pause image exists only for x86_64, not {}: import a pause image for this \
             architecture into containerd and set it as the sandbox image",
            std::env::consts::ARCH
        );
    }
    let size = (CODE + L_END) as u64;
    let mut elf = Vec::with_capacity(CODE + L_END);
    // ELF header
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F']); // magic
    elf.push(2); // EI_CLASS: 64-bit
    elf.push(1); // EI_DATA: little endian
    elf.push(1); // EI_VERSION: current
    elf.push(0); // EI_OSABI: System V
    elf.extend_from_slice(&[0; 8]); // EI_ABIVERSION and padding
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine: EM_X86_64
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&addr(0).to_le_bytes()); // e_entry: the start of the code
    elf.extend_from_slice(&64u64.to_le_bytes()); // e_phoff: right after this header
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no section headers
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    elf.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    elf.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_phnum
    elf.extend_from_slice(&0u16.to_le_bytes()); // e_shentsize
    elf.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    elf.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    // Program header 1, PT_LOAD: the whole file, read + execute, at BASE.
    elf.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // p_flags: PF_R | PF_X
    elf.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    elf.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    elf.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    elf.extend_from_slice(&size.to_le_bytes()); // p_filesz
    elf.extend_from_slice(&size.to_le_bytes()); // p_memsz
    elf.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    // Program header 2, PT_GNU_STACK: a non-executable stack.
    elf.extend_from_slice(&0x6474_e551u32.to_le_bytes()); // p_type: PT_GNU_STACK
    elf.extend_from_slice(&6u32.to_le_bytes()); // p_flags: PF_R | PF_W
    elf.extend_from_slice(&[0; 40]); // offset, vaddr, paddr, filesz, memsz
    elf.extend_from_slice(&16u64.to_le_bytes()); // p_align
    debug_assert_eq!(elf.len(), CODE);

    let code = code();
    // The hand-computed offsets must match the code as written.
    let at = |offset: usize| code.get(offset..offset + 2).unwrap_or_default();
    let checks = [
        code.len() == L_ACT_EXIT,
        at(L_LOOP) == [0xb8, SYS_PAUSE],
        at(L_DIE) == [0xbf, 1],
        at(L_ON_TERM) == [0x31, 0xff],
        at(L_ON_CHLD) == [0x48, 0xc7],
        at(L_RESTORER) == [0xb8, SYS_RT_SIGRETURN],
        at(L_CODE_END) == [0, 0],
        L_ACT_REAP == L_ACT_EXIT + 32 && L_END == L_ACT_REAP + 32,
    ];
    if checks.contains(&false) {
        bail!("internal error: the pause program's layout does not match its code");
    }
    elf.extend_from_slice(&code);
    elf.extend_from_slice(&sigaction(L_ON_TERM, SA_RESTORER)); // act_exit
    elf.extend_from_slice(&sigaction(L_ON_CHLD, SA_RESTORER | SA_NOCLDSTOP)); // act_reap
    debug_assert_eq!(elf.len() as u64, size);
    Ok(elf)
}

/// The pause image ([`PAUSE_IMAGE`]) as an OCI archive: `/pause` and nothing else.
pub fn pause_image() -> anyhow::Result<Vec<u8>> {
    let mut layer = Layer::new();
    layer.file("pause", 0o755, pause_elf()?);
    let mut image = Image::new(PAUSE_IMAGE);
    image.layers.push(layer);
    image.config.entrypoint = vec!["/pause".to_string()];
    image.config.user = "65535:65535".to_string();
    image.config.working_dir = "/".to_string();
    image.archive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Child, Command, ExitStatus};
    use std::time::{Duration, Instant};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    fn write_pause(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("pause");
        std::fs::write(&path, pause_elf().unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Kills the child on drop, so a failing test leaves nothing running.
    struct Running(Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    fn signal(child: &Child, sig: Signal) {
        kill(Pid::from_raw(child.id() as i32), sig).unwrap();
    }

    #[test]
    fn elf_is_small_and_static() {
        if std::env::consts::ARCH != "x86_64" {
            assert!(pause_elf().is_err());
            return;
        }
        let elf = pause_elf().unwrap();
        assert_eq!(elf.len(), 376);
        assert_eq!(&elf[..4], b"\x7fELF");
        // No PT_INTERP: both program headers are PT_LOAD and PT_GNU_STACK.
        assert_eq!(u32::from_le_bytes(elf[64..68].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_le_bytes(elf[120..124].try_into().unwrap()),
            0x6474_e551
        );
    }

    #[test]
    fn runs_until_sigterm_then_exits_zero() {
        if std::env::consts::ARCH != "x86_64" {
            eprintln!("skipping: the pause program is x86_64 only");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write_pause(dir.path());
        for sig in [Signal::SIGTERM, Signal::SIGINT] {
            let mut child = Running(Command::new(&path).spawn().unwrap());
            assert_eq!(
                wait_exit(&mut child.0, Duration::from_millis(300)),
                None,
                "still running"
            );
            // SIGCHLD with no child runs the reaping handler (wait4 fails with ECHILD) and
            // returns through the restorer: the program must survive it.
            signal(&child.0, Signal::SIGCHLD);
            assert_eq!(
                wait_exit(&mut child.0, Duration::from_millis(200)),
                None,
                "after SIGCHLD"
            );
            signal(&child.0, sig);
            let status = wait_exit(&mut child.0, Duration::from_secs(5)).expect("exited");
            assert_eq!(status.code(), Some(0), "{sig}: {status:?}");
        }
    }

    /// As PID 1 of a new PID namespace (where the default action of SIGTERM would be
    /// ignored) it still exits 0 on SIGTERM, and it reaps orphans re-parented to it.
    #[test]
    fn as_pid_one_reaps_orphans_and_exits_on_sigterm() {
        if std::env::consts::ARCH != "x86_64" {
            eprintln!("skipping: the pause program is x86_64 only");
            return;
        }
        if !is_root() {
            eprintln!("skipping: needs root for a PID namespace");
            return;
        }
        let (Ok(_), Ok(_)) = (
            Command::new("unshare").arg("--version").output(),
            Command::new("nsenter").arg("--version").output(),
        ) else {
            eprintln!("skipping: needs unshare and nsenter (util-linux)");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = write_pause(dir.path());
        let mut unshare = Running(
            Command::new("unshare")
                .args(["--pid", "--fork"])
                .arg(&path)
                .spawn()
                .unwrap(),
        );
        // The pause process is unshare's child.
        let parent = unshare.0.id().to_string();
        let deadline = Instant::now() + Duration::from_secs(5);
        let pause_pid = loop {
            assert!(Instant::now() < deadline, "pause did not start");
            if let Some(pid) = children(&parent).into_iter().next() {
                break pid;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Killing unshare does not kill its child: kill pause itself if the test fails.
        struct KillOnDrop(Pid);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                let _ = kill(self.0, Signal::SIGKILL);
            }
        }
        let pid = Pid::from_raw(pause_pid.parse().unwrap());
        let _pause = KillOnDrop(pid);
        // Enter its namespace and leave an orphan behind: `sh` starts `sleep` in the
        // background and exits, so `sleep` is re-parented to the namespace's init (pause).
        let status = Command::new("nsenter")
            .args([
                "--pid",
                "--target",
                &pause_pid,
                "--",
                "/bin/sh",
                "-c",
                "sleep 0.3 & exit 0",
            ])
            .status()
            .unwrap();
        assert!(status.success());
        let orphan = children(&pause_pid);
        assert_eq!(orphan.len(), 1, "the orphan is pause's child");
        // After sleep exits, pause must have reaped it: no child (zombie or not) is left.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !children(&pause_pid).is_empty() {
            assert!(Instant::now() < deadline, "pause did not reap its child");
            std::thread::sleep(Duration::from_millis(20));
        }
        kill(pid, Signal::SIGTERM).unwrap();
        let status = wait_exit(&mut unshare.0, Duration::from_secs(5)).expect("exited");
        assert_eq!(status.code(), Some(0), "{status:?}");
    }

    /// /proc/self belongs to the effective uid.
    fn is_root() -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }

    /// The PIDs (as strings) whose parent is `ppid`, from /proc.
    fn children(ppid: &str) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // After the command name in parentheses: state, then ppid.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            if rest.split_whitespace().nth(1) == Some(ppid) {
                out.push(name);
            }
        }
        out
    }
}
