#!/bin/sh
# PID 1 of the full-kernel guest, in the host's root seen through 9p with a tmpfs on top: mount
# what a system needs, put the Debian kernel's modules where modprobe looks, run the job the host
# left in the shared directory, leave its exit code there and power off.
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
export PATH HOME
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
# What udev makes on a booted system: wg(8) reads /dev/stdin, shells use /dev/fd.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
for word in $(cat /proc/cmdline); do
  case "$word" in
    pnsbox.modules=*) modules=${word#pnsbox.modules=} ;;
  esac
done
release=$(uname -r)
mkdir -p "/lib/modules/$release"
mount --bind "$modules" "/lib/modules/$release"
mkdir -p /out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 out /out
hostname pnsbox-vm
ip link set lo up
echo "pnsbox-vm: guest up after $(cut -d' ' -f1 /proc/uptime) s on $(uname -r)"
PNSBOX_VM_ACCEL=$(cat /out/accel)
export PNSBOX_VM_ACCEL
sh /out/job </dev/null 2>&1
echo $? > /out/rc
sleep 0.5
sync
echo o > /proc/sysrq-trigger
sleep 30  # the power-off is asynchronous: PID 1 must not exit first
