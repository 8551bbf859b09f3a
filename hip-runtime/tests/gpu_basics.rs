//! GPU tests: device description, memory round trips, memset, views, pinned memory,
//! streams and events, stream-ordered and cached allocation, use from several threads.
//! Without a GPU each prints `skipped: no GPU`; `ROCMFORGE_REQUIRE_GPU=1` makes that fail.

mod common;

use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{CachingAllocator, DeviceBuffer, Event, PinnedBuffer, Stream};

#[test]
fn device_info_is_plausible() {
    let Some(hip) = gpu_or_skip() else { return };
    assert!(hip.device_count() > 0);
    println!("{hip:?}, driver {:?}", hip.driver_version());
    for device in hip.devices() {
        let info = device.info();
        println!("{info} {info:?}");
        assert!(!info.name.is_empty());
        assert!(
            info.arch.starts_with("gfx") || info.arch.starts_with("sm_"),
            "arch {}",
            info.arch
        );
        assert!(matches!(info.warp_size, 32 | 64), "warp {}", info.warp_size);
        assert!(info.compute_units > 0);
        assert!(info.max_threads_per_block >= 256);
        assert!(info.shared_mem_per_block >= 16 * 1024);
        assert!(info.total_memory > 1 << 30);
        let (free, total) = device.memory_info().expect("memory info");
        assert!(free <= total && total > 0, "{free} of {total}");
    }
}

#[test]
fn host_device_round_trips_and_views() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let data: Vec<f32> = (0..10_000).map(|i| i as f32 * 0.5).collect();
    let a = DeviceBuffer::from_host(&stream, &data).unwrap();
    assert_eq!(a.len(), data.len());
    assert_eq!(a.to_vec().unwrap(), data);

    // A view of part of the buffer reads just that part.
    let part = a.slice(100..200).unwrap().to_vec().unwrap();
    assert_eq!(part, &data[100..200]);
    assert!(a.slice(9_000..10_001).is_err());

    // Device to device, whole and into a sub-range.
    let mut b = DeviceBuffer::<f32>::zeroed(&stream, data.len()).unwrap();
    b.as_slice_mut()
        .copy_from_device_async(&a.as_slice())
        .unwrap();
    assert_eq!(b.to_vec().unwrap(), data);
    let mut c = DeviceBuffer::<f32>::zeroed(&stream, 300).unwrap();
    c.slice_mut(100..200)
        .unwrap()
        .copy_from_device(&a.slice(0..100).unwrap())
        .unwrap();
    let c = c.to_vec().unwrap();
    assert!(c[..100].iter().all(|&v| v == 0.0));
    assert_eq!(&c[100..200], &data[..100]);

    // Across streams.
    let other = Stream::new(&device).unwrap();
    let mut d = DeviceBuffer::<f32>::new(&other, data.len()).unwrap();
    d.as_slice_mut().copy_from_device(&a.as_slice()).unwrap();
    assert_eq!(d.to_vec().unwrap(), data);

    // Length mismatches are errors, not truncations.
    let mut short = vec![0f32; 5];
    assert!(a.as_slice().copy_to_host(&mut short).is_err());
}

#[test]
fn memset_sets_every_byte() {
    let Some(hip) = gpu_or_skip() else { return };
    let stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let mut buf = DeviceBuffer::<u32>::new(&stream, 1000).unwrap();
    buf.as_slice_mut().memset(0xAB).unwrap();
    assert!(buf.to_vec().unwrap().iter().all(|&v| v == 0xABAB_ABAB));
    buf.slice_mut(10..20).unwrap().memset(0).unwrap();
    let v = buf.to_vec().unwrap();
    assert!(v[10..20].iter().all(|&x| x == 0));
    assert_eq!(v[9], 0xABAB_ABAB);
    assert_eq!(v[20], 0xABAB_ABAB);
    let z = DeviceBuffer::<f64>::zeroed(&stream, 77).unwrap();
    assert!(z.to_vec().unwrap().iter().all(|&x| x == 0.0));
}

#[test]
fn pinned_memory_async_round_trip() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let mut host = PinnedBuffer::<i32>::new(&device, 4096).unwrap();
    assert!(host.iter().all(|&v| v == 0));
    for (i, v) in host.iter_mut().enumerate() {
        *v = i as i32 - 2000;
    }
    let mut dev = DeviceBuffer::<i32>::new(&stream, host.len()).unwrap();
    let mut back = PinnedBuffer::<i32>::new(&device, host.len()).unwrap();
    // SAFETY: both pinned buffers outlive the stream synchronisation below.
    unsafe {
        dev.as_slice_mut().copy_from_host_async(&host).unwrap();
        dev.as_slice().copy_to_host_async(&mut back).unwrap();
    }
    stream.synchronize().unwrap();
    assert_eq!(&back[..], &host[..]);
}

#[test]
fn events_time_stream_work() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let start = Event::new(&device).unwrap();
    let end = Event::new(&device).unwrap();
    let mut buf = DeviceBuffer::<u8>::new(&stream, 64 << 20).unwrap();
    start.record(&stream).unwrap();
    for v in 0..4 {
        buf.as_slice_mut().memset_async(v).unwrap();
    }
    end.record(&stream).unwrap();
    end.synchronize().unwrap();
    let ms = start.elapsed_ms(&end).unwrap();
    assert!(ms >= 0.0, "{ms} ms");
    // A second stream waits for the first one's event.
    let other = Stream::new(&device).unwrap();
    other.wait_event(&end).unwrap();
    other.synchronize().unwrap();
}

#[test]
fn stream_ordered_allocation() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    if !device.info().memory_pools {
        println!("skipped: device has no stream-ordered allocator");
        return;
    }
    let stream = Stream::new(&device).unwrap();
    let data: Vec<u16> = (0..5000).map(|i| i as u16).collect();
    let mut buf = DeviceBuffer::<u16>::new_async(&stream, data.len()).unwrap();
    buf.copy_from_host(&data).unwrap();
    assert_eq!(buf.to_vec().unwrap(), data);
    drop(buf);
    stream.synchronize().unwrap();
}

#[test]
fn caching_allocator_reuses_blocks_and_counts() {
    let Some(hip) = gpu_or_skip() else { return };
    let stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let pool = CachingAllocator::new(&stream);
    let a = pool.alloc::<f32>(1000).unwrap();
    let s = pool.stats();
    assert_eq!(
        (s.allocated, s.cached, s.peak, s.misses),
        (4096, 0, 4096, 1)
    );
    let addr = a.device_ptr();
    drop(a);
    let s = pool.stats();
    assert_eq!((s.allocated, s.cached, s.peak), (0, 4096, 4096));
    let mut b = pool.alloc::<f32>(900).unwrap();
    assert_eq!(b.device_ptr(), addr, "same size class must reuse the block");
    let s = pool.stats();
    assert_eq!((s.allocated, s.cached, s.hits), (4096, 0, 1));
    let c = pool.alloc::<u8>(3 << 20).unwrap();
    assert_eq!(pool.stats().peak, 4096 + (4 << 20));
    b.copy_from_host(&vec![2.5; 900]).unwrap();
    assert!(b.to_vec().unwrap().iter().all(|&v| v == 2.5));
    drop((b, c));
    assert_eq!(pool.stats().cached, 4096 + (4 << 20));
    pool.empty_cache().unwrap();
    let s = pool.stats();
    assert_eq!((s.allocated, s.cached), (0, 0));
    println!("{s}");
}

#[test]
fn devices_work_from_other_threads() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let buf = DeviceBuffer::from_host(&stream, &[1u32, 2, 3, 4]).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let stream = stream.clone();
            let device = device.clone();
            std::thread::spawn(move || {
                let own = Stream::new(&device).unwrap();
                let mine = DeviceBuffer::from_host(&own, &[t; 16]).unwrap();
                assert_eq!(mine.to_vec().unwrap(), vec![t; 16]);
                let mut copy = DeviceBuffer::<u32>::new(&stream, 16).unwrap();
                copy.as_slice_mut()
                    .copy_from_device(&mine.as_slice())
                    .unwrap();
                copy.to_vec().unwrap()
            })
        })
        .collect();
    for (t, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), vec![t as u32; 16]);
    }
    // A buffer made on this thread is read from another one.
    let back = std::thread::scope(|s| s.spawn(|| buf.to_vec().unwrap()).join().unwrap());
    assert_eq!(back, vec![1, 2, 3, 4]);
}

#[test]
fn two_devices_alternate_on_one_thread_and_copy_between_them() {
    let Some(hip) = gpu_or_skip() else { return };
    let devices = hip.devices();
    if devices.len() < 2 {
        println!("skipped: one device, no peers");
        return;
    }
    let (d0, d1) = (&devices[0], &devices[1]);
    for (a, b) in [(d0, d1), (d1, d0)] {
        if a.can_access_peer(b).unwrap() {
            a.enable_peer_access(b).unwrap();
            a.enable_peer_access(b).unwrap();
        }
    }
    let (s0, s1) = (Stream::new(d0).unwrap(), Stream::new(d1).unwrap());
    let data: Vec<f32> = (0..1 << 16).map(|i| i as f32).collect();
    let src = DeviceBuffer::from_host(&s0, &data).unwrap();
    let mut dst = DeviceBuffer::<f32>::zeroed(&s1, data.len()).unwrap();
    // Alternating devices on this thread: each call makes its own device current.
    for _ in 0..3 {
        assert_eq!(src.to_vec().unwrap()[7], 7.0);
        assert_eq!(dst.to_vec().unwrap()[7], 0.0);
    }
    dst.as_slice_mut()
        .copy_from_device(&src.as_slice())
        .unwrap();
    assert_eq!(dst.to_vec().unwrap(), data);
    assert_eq!(dst.device().ordinal(), 1);
}
