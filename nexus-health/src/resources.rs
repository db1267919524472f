//! Host resource figures through `sysinfo`: CPU, memory, and the disk of the working directory.

use std::sync::Mutex;

use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};

use crate::score::Resources;

/// Samples host CPU, memory and disk usage. CPU usage is measured between two samples, so the
/// first sample has none.
///
/// ```
/// let sampler = nexus_health::ResourceSampler::new();
/// let r = sampler.sample();
/// assert!(r.memory.is_some_and(|m| (0.0..=1.0).contains(&m)));
/// ```
#[derive(Debug)]
pub struct ResourceSampler {
    system: Option<Mutex<System>>,
}

impl Default for ResourceSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl ResourceSampler {
    /// A sampler (reads the CPU counters once as a baseline).
    pub fn new() -> Self {
        let kind = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::everything());
        let system = System::new_with_specifics(kind)
            .map_err(|e| tracing::warn!(error = %e, "host figures unavailable"))
            .ok();
        Self {
            system: system.map(Mutex::new),
        }
    }

    /// Current usage as fractions in 0..=1 (`None` for what the host does not expose).
    pub fn sample(&self) -> Resources {
        let Some(system) = &self.system else {
            return Resources::new(None, None, disk_usage());
        };
        let mut sys = system.lock().unwrap_or_else(|e| e.into_inner());
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        let cpu = sys
            .cpus()
            .first()
            .map(|_| f64::from(sys.global_cpu_usage()) / 100.0);
        let memory =
            (sys.total_memory() > 0).then(|| sys.used_memory() as f64 / sys.total_memory() as f64);
        drop(sys);
        Resources::new(cpu.map(|c| c.clamp(0.0, 1.0)), memory, disk_usage())
    }
}

/// Usage of the filesystem holding the working directory (the longest matching mount point).
fn disk_usage() -> Option<f64> {
    let cwd = std::env::current_dir().ok()?;
    let disks = Disks::new_with_refreshed_list().ok()?;
    let disk = disks
        .iter()
        .filter(|d| cwd.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())?;
    let total = disk.total_space();
    (total > 0).then(|| 1.0 - disk.available_space() as f64 / total as f64)
}
