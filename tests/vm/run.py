"""The full-kernel tier: boot Debian's own kernel in qemu over this machine's files and run a job in it.

    python3 tests/vm/run.py [--accel auto|kvm|tcg] [--] COMMAND...

The kernel is the one `linux-image-amd64` depends on, fetched with `apt-get download` into a cache
(beside the checkout in .cache/vm, or $PNSBOX_VM_CACHE) and unpacked there with its modules. The
guest mounts this machine's root read-only over 9p with a tmpfs on top (tests/vm/init), so it runs
the same Python, venv and checkout at the same paths, and writes only to its own memory. COMMAND
runs as root in the guest from the checkout (tests/vm/guest.sh); its output is the guest's console,
and its exit code is this script's. KVM is tried first where /dev/kvm opens and is not PVM (a
software KVM that cannot run a stock kernel, as on the 2-core machines this project is built on);
a KVM guest that prints nothing within KVM_GRACE seconds is stopped and the run starts again
under TCG.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
KVM_GRACE = 10.0  # seconds for a KVM guest to print its first line
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")  # and what they depend on
MEMORY_MB = 3072


def log(message: str) -> None:
    print(f"pnsbox-vm: {message}", flush=True)


def cache_dir() -> Path:
    return Path(os.environ.get("PNSBOX_VM_CACHE") or ROOT / ".cache" / "vm")


def kernel_package() -> str:
    """The versioned image package that the meta package linux-image-amd64 points at today."""
    for attempt in range(2):
        out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            name = line.strip().removeprefix("Depends:").strip()
            if line.strip().startswith("Depends:") and name.startswith("linux-image-"):
                return name
        if attempt == 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
    raise SystemExit("pnsbox-vm: apt-cache knows no linux-image-amd64 (is this Debian?)")


def fetch_kernel() -> tuple[Path, Path, str]:
    """(vmlinuz, modules directory, release) of Debian's kernel, downloaded and unpacked once."""
    package = kernel_package()
    release = package.removeprefix("linux-image-")
    unpacked = cache_dir() / package
    vmlinuz = unpacked / "boot" / f"vmlinuz-{release}"
    modules = unpacked / "lib" / "modules" / release
    if not (modules / "modules.dep").exists():
        downloads = cache_dir() / "debs"
        downloads.mkdir(parents=True, exist_ok=True)
        log(f"downloading {package}")
        subprocess.run(["apt-get", "download", "-q", package], cwd=downloads, check=True,
                       stdout=subprocess.DEVNULL)
        deb = max(downloads.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
        shutil.rmtree(unpacked, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        subprocess.run(["depmod", "-b", str(unpacked), release], check=True)
    return vmlinuz, modules, release


def build_initramfs(modules: Path, release: str, out: Path) -> Path:
    """busybox, tests/vm/init and the boot modules in load order, as a gzipped cpio."""
    tree = out / "initramfs"
    (tree / "bin").mkdir(parents=True)
    busybox = shutil.which("busybox")
    if busybox is None:
        raise SystemExit("pnsbox-vm: needs busybox (Debian package busybox-static)")
    shutil.copy(busybox, tree / "bin" / "busybox")
    shutil.copy(HERE / "init", tree / "init")
    order = []
    for module in BOOT_MODULES:
        shown = subprocess.run(["modprobe", "-d", str(modules.parents[2]), "-S", release, "--show-depends",
                                module], capture_output=True, text=True, check=True).stdout
        for line in shown.splitlines():
            words = line.split()
            if words and words[0] == "insmod":
                path = Path(words[1])
                target = f"/modules/{path.name}"
                if target not in order:
                    (tree / "modules").mkdir(exist_ok=True)
                    shutil.copy(path, tree / "modules" / path.name)
                    order.append(target)
    (tree / "modules.order").write_text("".join(f"{m}\n" for m in order))
    image = out / "initramfs.cpio.gz"
    listing = subprocess.run(["find", "."], cwd=tree, capture_output=True, check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=tree, input=listing,
                          capture_output=True, check=True).stdout
    image.write_bytes(subprocess.run(["gzip", "-1"], input=cpio, capture_output=True, check=True).stdout)
    return image


def kvm_unusable() -> str | None:
    """Why KVM cannot run Debian's kernel here, or None when it may (then it is tried with a grace)."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as error:
        return f"/dev/kvm does not open ({error.strerror})"
    if Path("/sys/module/kvm_pvm").exists() and not Path("/sys/module/kvm_intel").exists() \
            and not Path("/sys/module/kvm_amd").exists():
        # PVM: KVM in software on a CPU without VT-x/AMD-V. It runs guests built for PVM; a stock
        # kernel's boot code is emulated an instruction at a time (measured here: about a
        # million instructions a second), so Debian's kernel never reaches its first line.
        return "/dev/kvm is PVM (kvm_pvm, no VT-x/AMD-V): it cannot run a stock Debian kernel at speed"
    return None


def qemu_argv(accel: str, vmlinuz: Path, initramfs: Path, modules: Path, shared: Path) -> list[str]:
    cpus = min(os.cpu_count() or 1, 2)
    append = " ".join([
        "console=ttyS0", "panic=-1", "quiet", "loglevel=3", "mitigations=off",
        f"pnsbox.guest={HERE / 'guest.sh'}", f"pnsbox.modules={modules}",
    ])
    accel_args = ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg,thread=multi", "-cpu", "max"]
    return [
        "qemu-system-x86_64", *accel_args, "-m", str(MEMORY_MB), "-smp", str(cpus),
        "-nographic", "-no-reboot", "-nic", "none",
        "-kernel", str(vmlinuz), "-initrd", str(initramfs), "-append", append,
        "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev", f"local,id=out,path={shared},security_model=none",
        "-device", "virtio-9p-pci,fsdev=out,mount_tag=out",
    ]


ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|c)")  # SeaBIOS paints the screen with these


def boot(argv: list[str], grace: float | None) -> int | None:
    """Run the guest, echoing its console; None when it printed nothing within GRACE seconds."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    guest_spoke = threading.Event()
    gave_up = threading.Event()

    def watchdog():
        if grace is not None and not guest_spoke.wait(grace):
            gave_up.set()
            proc.kill()

    threading.Thread(target=watchdog, daemon=True).start()
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = ESCAPES.sub("", raw.decode(errors="replace")).rstrip("\r\n")
        if "pnsbox-vm:" in line:
            guest_spoke.set()
        if line.strip():
            print(line, flush=True)
    proc.wait()
    return None if gave_up.is_set() else proc.returncode


def run(command: list[str], accel: str) -> int:
    started = time.monotonic()
    vmlinuz, modules, release = fetch_kernel()
    with tempfile.TemporaryDirectory(prefix="pnsbox-vm-") as tmp:
        work = Path(tmp)
        initramfs = build_initramfs(modules, release, work)
        shared = work / "shared"
        shared.mkdir()
        env = {"PNSBOX_VM": "1", "PNSBOX_VM_SHARED": "/out", "PYTHONDONTWRITEBYTECODE": "1"}
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        (shared / "job").write_text(f"{exports}cd {shlex.quote(str(ROOT))}\n{shlex.join(command)}\n")
        accels = [accel]
        if accel == "auto":
            why_not = kvm_unusable()
            accels = ["tcg"] if why_not else ["kvm", "tcg"]
            if why_not:
                log(f"TCG: {why_not}")
        for index, chosen in enumerate(accels):
            log(f"booting {vmlinuz.name} under {chosen.upper()}")
            grace = KVM_GRACE if chosen == "kvm" and index + 1 < len(accels) else None
            (shared / "accel").write_text(chosen)  # the guest exports it as PNSBOX_VM_ACCEL
            status = boot(qemu_argv(chosen, vmlinuz, initramfs, modules, shared), grace)
            if status is not None:
                break
            log(f"{chosen.upper()} guest printed nothing in {KVM_GRACE:.0f} s; trying the next")
        rc_file = shared / "rc"
        if not rc_file.exists():
            log(f"the guest stopped before the job finished (qemu exit {status}); "
                f"{time.monotonic() - started:.0f} s")
            return 1
        for name in os.listdir(shared):  # results the job left for the host (junit XML etc.)
            if name not in ("job", "rc", "accel") and os.environ.get("PNSBOX_VM_RESULTS"):
                Path(os.environ["PNSBOX_VM_RESULTS"]).mkdir(parents=True, exist_ok=True)
                shutil.copy(shared / name, Path(os.environ["PNSBOX_VM_RESULTS"]) / name)
        rc = int(rc_file.read_text().strip() or 1)
        log(f"job exit {rc}; the whole run took {time.monotonic() - started:.0f} s")
        return rc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accel", choices=("auto", "kvm", "tcg"),
                        default=os.environ.get("PNSBOX_VM_ACCEL", "auto"))
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if os.geteuid() != 0:
        raise SystemExit("pnsbox-vm: run as root (the guest shares this machine's root)")
    return run(command or ["uname", "-a"], args.accel)


if __name__ == "__main__":
    sys.exit(main())
