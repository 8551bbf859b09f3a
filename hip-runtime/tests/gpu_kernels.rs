//! GPU tests: kernels compiled at run time (hiprtc / NVRTC) from an inline source, loaded
//! and launched; occupancy; graph capture, replay and update.

mod common;

use common::test_module;
use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{DeviceBuffer, LaunchConfig, Stream};

#[test]
fn compiled_kernel_launches_and_writes() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let module = test_module(&device);
    let fill = module.kernel("fill").unwrap();
    let axpy = module.kernel("axpy").unwrap();
    let n = 100_003u32;
    let y = DeviceBuffer::<f32>::new(&stream, n as usize).unwrap();
    let x = DeviceBuffer::from_host(&stream, &vec![2.0f32; n as usize]).unwrap();
    let cfg = LaunchConfig::for_items(n as usize, 256);
    // SAFETY: `fill(float*, float, unsigned)` with a buffer of `n` floats; `axpy(float*,
    // const float*, float, unsigned)` with two such buffers.
    unsafe {
        fill.launch(&stream, cfg, (y.arg(), 1.5f32, n)).unwrap();
        axpy.launch(&stream, cfg, (y.arg(), x.arg(), 0.25f32, n))
            .unwrap();
    }
    let out = y.to_vec().unwrap();
    assert!(
        out.iter().all(|&v| v == 2.0),
        "first wrong: {:?}",
        out.iter().find(|&&v| v != 2.0)
    );

    // A launch on a view touches only that view.
    let mut z = DeviceBuffer::<f32>::zeroed(&stream, 64).unwrap();
    let view = z.slice_mut(16..32).unwrap();
    // SAFETY: the view holds 16 floats and the kernel is told n = 16.
    unsafe {
        fill.launch(
            &stream,
            LaunchConfig::for_items(16, 64),
            (view.arg(), 7.0f32, 16u32),
        )
    }
    .unwrap();
    let z = z.to_vec().unwrap();
    assert!(z[..16].iter().chain(&z[32..]).all(|&v| v == 0.0));
    assert!(z[16..32].iter().all(|&v| v == 7.0));
}

#[test]
fn occupancy_is_reported() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let module = test_module(&device);
    let fill = module.kernel("fill").unwrap();
    let blocks = fill.max_active_blocks_per_cu(256, 0).unwrap();
    assert!(blocks >= 1, "{blocks} blocks of 256 threads per CU");
    println!("fill: {blocks} resident blocks of 256 threads per CU");
}

#[test]
fn graph_capture_replay_and_update() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let module = test_module(&device);
    let add_one = module.kernel("add_one").unwrap();
    let n = 4096u32;
    let a = DeviceBuffer::<f32>::zeroed(&stream, n as usize).unwrap();
    let b = DeviceBuffer::<f32>::zeroed(&stream, n as usize).unwrap();
    stream.synchronize().unwrap();
    let cfg = LaunchConfig::for_items(n as usize, 128);

    let capture = |target: &DeviceBuffer<f32>| {
        stream.begin_capture().unwrap();
        for _ in 0..2 {
            // SAFETY: `add_one(float*, unsigned)` on a buffer of `n` floats.
            unsafe { add_one.launch(&stream, cfg, (target.arg(), n)) }.unwrap();
        }
        stream.end_capture().unwrap()
    };
    let graph = capture(&a);
    let mut exec = graph.instantiate().unwrap();
    // Nothing ran during capture.
    assert!(a.to_vec().unwrap().iter().all(|&v| v == 0.0));
    for _ in 0..3 {
        exec.launch(&stream).unwrap();
    }
    stream.synchronize().unwrap();
    assert!(a.to_vec().unwrap().iter().all(|&v| v == 6.0));

    // Same topology, other buffer: update in place and replay.
    let graph_b = capture(&b);
    exec.update(&graph_b).unwrap();
    exec.launch(&stream).unwrap();
    stream.synchronize().unwrap();
    assert!(b.to_vec().unwrap().iter().all(|&v| v == 2.0));
    assert!(a.to_vec().unwrap().iter().all(|&v| v == 6.0));
}
