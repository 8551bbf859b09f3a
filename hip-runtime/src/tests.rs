//! Tests of the safe layer's bookkeeping on the host-memory fake driver (no GPU needed).

use std::sync::atomic::Ordering;

use crate::fake::fake_hip;
use crate::{
    CachingAllocator, DeviceBuffer, Error, Event, Hip, LaunchConfig, Module, PinnedBuffer, Stream,
};

#[test]
fn device_description_comes_from_the_driver() {
    let (hip, _) = fake_hip(1 << 20);
    assert_eq!(hip.device_count(), 1);
    let info = hip.device(0).unwrap().info().clone();
    assert_eq!(info.arch, "gfx90a");
    assert_eq!(info.arch_full, "gfx90a:sramecc+:xnack-");
    assert_eq!((info.warp_size, info.compute_units), (64, 104));
    assert_eq!(info.total_memory, 1 << 20);
    assert_eq!(info.clock_khz, Some(1_700_000));
    assert!(info.memory_pools);
    let bw = info.peak_bandwidth_bytes_per_s().unwrap();
    assert_eq!(bw, 2.0 * 1.6e9 * 512.0);
    let err = hip.device(1).unwrap_err().to_string();
    assert_eq!(err, "device 1 does not exist (1 device(s) found)");
}

#[test]
fn a_driver_without_devices_is_refused() {
    let state = std::sync::Arc::new(crate::fake::FakeState::default());
    let err = Hip::from_driver(Box::new(crate::fake::FakeDriver(state))).unwrap_err();
    assert!(err.to_string().contains("no GPU found by fake"), "{err}");
}

#[test]
fn buffers_round_trip_through_views() {
    let (hip, state) = fake_hip(1 << 20);
    let stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let data: Vec<i32> = (0..100).collect();
    let mut buf = DeviceBuffer::from_host(&stream, &data).unwrap();
    assert_eq!(buf.to_vec().unwrap(), data);
    assert_eq!(
        buf.slice(10..13).unwrap().to_vec().unwrap(),
        vec![10, 11, 12]
    );
    buf.slice_mut(0..5).unwrap().memset(0xFF).unwrap();
    let v = buf.to_vec().unwrap();
    assert_eq!(&v[..6], &[-1, -1, -1, -1, -1, 5]);
    let (head, mut tail) = buf.as_slice_mut().split_at_mut(60).unwrap();
    assert_eq!((head.len(), tail.len()), (60, 40));
    tail.memset(0).unwrap();
    let v = buf.to_vec().unwrap();
    assert_eq!((v[59], v[60], v[99]), (59, 0, 0));
    buf.copy_from_host(&data).unwrap();
    assert!(buf.as_slice_mut().split_at_mut(101).is_err());
    let mut other = DeviceBuffer::<i32>::zeroed(&stream, 3).unwrap();
    other
        .as_slice_mut()
        .copy_from_device_async(&buf.slice(50..53).unwrap())
        .unwrap();
    assert_eq!(other.to_vec().unwrap(), vec![50, 51, 52]);
    let range = buf.slice(90..101).unwrap_err().to_string();
    assert!(
        range.contains("range 90..101 is outside a buffer of 100"),
        "{range}"
    );
    let other_stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let elsewhere = DeviceBuffer::from_host(&other_stream, &[7i32; 3]).unwrap();
    let mismatch = other
        .as_slice_mut()
        .copy_from_device_async(&elsewhere.as_slice())
        .unwrap_err();
    assert!(
        matches!(mismatch, Error::StreamMismatch { .. }),
        "{mismatch}"
    );
    other
        .as_slice_mut()
        .copy_from_device(&elsewhere.as_slice())
        .unwrap();
    assert_eq!(other.to_vec().unwrap(), vec![7; 3]);
    drop(elsewhere);
    let mut small = vec![0; 3];
    let len = buf
        .as_slice()
        .copy_to_host(&mut small)
        .unwrap_err()
        .to_string();
    assert!(
        len.contains("destination holds 3 elements, source 100"),
        "{len}"
    );
    drop((buf, other));
    assert_eq!(state.used(), 0, "every allocation freed");
}

#[test]
fn an_allocation_that_does_not_fit_says_asked_and_free() {
    let (hip, _) = fake_hip(1 << 20);
    let stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let _held = DeviceBuffer::<u8>::new(&stream, 1 << 19).unwrap();
    let err = DeviceBuffer::<f32>::new(&stream, 1 << 20).unwrap_err();
    let Error::Hip(e) = &err else { panic!("{err}") };
    assert_eq!(e.op, "hipMalloc");
    assert_eq!(e.name, "hipErrorOutOfMemory");
    assert_eq!(
        err.to_string(),
        "hipMalloc failed: hipErrorOutOfMemory (2): asked for 4.00 MiB (4194304 bytes) on \
         device 0 (Fake GPU); 512.00 KiB (524288 bytes) free of 1.00 MiB (1048576 bytes)"
    );
    let overflow = DeviceBuffer::<u64>::new(&stream, usize::MAX / 4).unwrap_err();
    assert!(matches!(overflow, Error::SizeOverflow { .. }), "{overflow}");
}

#[test]
fn failed_releases_are_reported_by_the_next_call() {
    let (hip, state) = fake_hip(1 << 20);
    let stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let buf = DeviceBuffer::<u8>::new(&stream, 100).unwrap();
    state.fail_free.store(true, Ordering::SeqCst);
    drop(buf);
    state.fail_free.store(false, Ordering::SeqCst);
    let err = DeviceBuffer::<u8>::new(&stream, 10).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Deferred(_)), "{msg}");
    assert!(
        msg.contains("hipFree failed: hipErrorInvalidDevicePointer"),
        "{msg}"
    );
    assert!(msg.contains("100 B on device 0"), "{msg}");
    // Reported once; the process goes on.
    let ok = DeviceBuffer::from_host(&stream, &[1u8, 2, 3]).unwrap();
    assert_eq!(ok.to_vec().unwrap(), vec![1, 2, 3]);
}

#[test]
fn the_device_is_made_current_once_per_thread() {
    let (hip, state) = fake_hip(1 << 20);
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let before = state.set_device_calls.load(Ordering::SeqCst);
    for _ in 0..10 {
        DeviceBuffer::from_host(&stream, &[0f32; 8]).unwrap();
    }
    assert_eq!(state.set_device_calls.load(Ordering::SeqCst), before);
    std::thread::scope(|s| {
        s.spawn(|| DeviceBuffer::from_host(&stream, &[0f32; 8]).unwrap());
    });
    assert_eq!(state.set_device_calls.load(Ordering::SeqCst), before + 1);
}

#[test]
fn caching_allocator_statistics() {
    let (hip, state) = fake_hip(16 << 20);
    let stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let pool = CachingAllocator::new(&stream);
    let a = pool.alloc::<f32>(100).unwrap();
    let b = pool.alloc::<u8>(3 << 20).unwrap();
    let s = pool.stats();
    assert_eq!(
        (s.allocated, s.cached, s.peak),
        (512 + (4 << 20), 0, 512 + (4 << 20))
    );
    let a_addr = a.device_ptr();
    drop(a);
    let c = pool.alloc::<u32>(128).unwrap();
    assert_eq!(c.device_ptr(), a_addr);
    assert_eq!((pool.stats().hits, pool.stats().misses), (1, 2));
    drop((b, c));
    let s = pool.stats();
    assert_eq!((s.allocated, s.cached), (0, 512 + (4 << 20)));
    // Out of memory: the cache is released and the allocation retried.
    let big = pool.alloc::<u8>(14 << 20).unwrap();
    assert_eq!(pool.stats().cached, 0);
    drop(big);
    pool.empty_cache().unwrap();
    assert_eq!(state.used(), 0);
}

#[test]
fn pinned_buffers_and_events() {
    let (hip, state) = fake_hip(1 << 20);
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let mut host = PinnedBuffer::<u16>::new(&device, 64).unwrap();
    assert!(host.iter().all(|&v| v == 0));
    host[3] = 7;
    let dev = DeviceBuffer::from_host(&stream, &host).unwrap();
    assert_eq!(dev.to_vec().unwrap()[3], 7);
    let (start, end) = (Event::new(&device).unwrap(), Event::new(&device).unwrap());
    start.record(&stream).unwrap();
    end.record(&stream).unwrap();
    assert_eq!(start.elapsed_ms(&end).unwrap(), 0.5);
    drop((host, dev));
    assert_eq!(state.used(), 0);
}

#[test]
fn module_errors_and_launch_geometry_are_described() {
    let (hip, _) = fake_hip(1 << 20);
    let device = hip.device(0).unwrap();
    let err = Module::load(&device, "m", &[1, 2, 3])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "hipModuleLoadData failed: hipErrorNotSupported (801): module `m` (3 bytes) on device 0 \
         (gfx90a)"
    );
    let cfg = LaunchConfig::for_items(1000, 256);
    assert_eq!(
        cfg.to_string(),
        "grid (4, 1, 1) block (256, 1, 1) (256 threads) shared 0 B"
    );
}
