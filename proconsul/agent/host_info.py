"""What ``/v1/agent/host`` reports, in gopsutil's shapes (Consul's ``debug.CollectHostInfo``).

Read from the standard library and ``/proc``; a part that cannot be read is
null and its reason goes to ``Errors``.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import time
from collections.abc import Callable
from typing import Any

DISK_PATH = "/"


def _meminfo() -> dict[str, int]:
    values = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return values


def memory() -> dict[str, Any]:
    m = _meminfo()
    total, free = m.get("MemTotal", 0), m.get("MemFree", 0)
    cached = m.get("Cached", 0) + m.get("SReclaimable", 0)
    used = total - free - m.get("Buffers", 0) - cached
    return {
        "total": total, "available": m.get("MemAvailable", free), "used": used,
        "usedPercent": used / total * 100 if total else 0.0, "free": free,
        "active": m.get("Active", 0), "inactive": m.get("Inactive", 0), "wired": 0,
        "laundry": 0, "buffers": m.get("Buffers", 0), "cached": cached,
        "writeBack": m.get("Writeback", 0), "dirty": m.get("Dirty", 0),
        "writeBackTmp": m.get("WritebackTmp", 0), "shared": m.get("Shmem", 0),
        "slab": m.get("Slab", 0), "sreclaimable": m.get("SReclaimable", 0),
        "sunreclaim": m.get("SUnreclaim", 0), "pageTables": m.get("PageTables", 0),
        "swapCached": m.get("SwapCached", 0), "commitLimit": m.get("CommitLimit", 0),
        "committedAS": m.get("Committed_AS", 0), "highTotal": m.get("HighTotal", 0),
        "highFree": m.get("HighFree", 0), "lowTotal": m.get("LowTotal", 0),
        "lowFree": m.get("LowFree", 0), "swapTotal": m.get("SwapTotal", 0),
        "swapFree": m.get("SwapFree", 0), "mapped": m.get("Mapped", 0),
        "vmallocTotal": m.get("VmallocTotal", 0), "vmallocUsed": m.get("VmallocUsed", 0),
        "vmallocChunk": m.get("VmallocChunk", 0), "hugePagesTotal": m.get("HugePages_Total", 0),
        "hugePagesFree": m.get("HugePages_Free", 0), "hugePageSize": m.get("Hugepagesize", 0),
    }


def cpus() -> list[dict[str, Any]]:
    """One entry per logical CPU, as gopsutil's ``cpu.InfoStat``."""
    with open("/proc/cpuinfo") as f:
        blocks = [b for b in f.read().split("\n\n") if b.strip()]
    result = []
    for block in blocks:
        info = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
        if "processor" not in info:
            continue

        def num(key: str, cast: Callable = int, info=info) -> Any:
            try:
                return cast(info.get(key, "0").split()[0])
            except (ValueError, IndexError):
                return cast(0)

        result.append({
            "cpu": num("processor"), "vendorId": info.get("vendor_id", ""),
            "family": info.get("cpu family", ""), "model": info.get("model", ""),
            "stepping": num("stepping"), "physicalId": info.get("physical id", ""),
            "coreId": info.get("core id", ""), "cores": 1,
            "modelName": info.get("model name", ""), "mhz": num("cpu MHz", float),
            "cacheSize": num("cache size"), "flags": info.get("flags", "").split(),
            "microcode": info.get("microcode", ""),
        })
    return result


def _os_release() -> dict[str, str]:
    values = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                values[key] = value.strip('"')
    except OSError:
        pass
    return values


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def host() -> dict[str, Any]:
    with open("/proc/uptime") as f:
        uptime = int(float(f.read().split()[0]))
    release = _os_release()
    like = release.get("ID_LIKE", "").split()
    return {
        "hostname": socket.gethostname(), "uptime": uptime,
        "bootTime": int(time.time()) - uptime,
        "procs": sum(1 for name in os.listdir("/proc") if name.isdigit()),
        "os": platform.system().lower(), "platform": release.get("ID", ""),
        "platformFamily": like[0] if like else release.get("ID", ""),
        "platformVersion": release.get("VERSION_ID", ""),
        "kernelVersion": platform.release(), "kernelArch": platform.machine(),
        "virtualizationSystem": "", "virtualizationRole": "",
        "hostId": _read("/etc/machine-id") or _read("/sys/class/dmi/id/product_uuid"),
    }


def _fstype(path: str) -> str:
    best, fstype = "", ""
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and path.startswith(fields[1]) and len(fields[1]) > len(best):
                    best, fstype = fields[1], fields[2]
    except OSError:
        pass
    return fstype


def disk(path: str = DISK_PATH) -> dict[str, Any]:
    usage = shutil.disk_usage(path)
    st = os.statvfs(path)
    inodes_used = st.f_files - st.f_ffree
    return {
        "path": path, "fstype": _fstype(path), "total": usage.total, "free": usage.free,
        "used": usage.used,
        "usedPercent": usage.used / (usage.used + usage.free) * 100 if usage.total else 0.0,
        "inodesTotal": st.f_files, "inodesUsed": inodes_used, "inodesFree": st.f_ffree,
        "inodesUsedPercent": inodes_used / st.f_files * 100 if st.f_files else 0.0,
    }


def collect() -> dict[str, Any]:
    """The whole ``/v1/agent/host`` body."""
    body: dict[str, Any] = {}
    errors = []
    for name, part in (("Memory", memory), ("CPU", cpus), ("Host", host), ("Disk", disk)):
        try:
            body[name] = part()
        except (OSError, ValueError) as err:
            body[name] = None
            errors.append(f"{name.lower()}: {err}")
    body["CollectionTime"] = time.time_ns()
    body["Errors"] = errors or None
    return body
