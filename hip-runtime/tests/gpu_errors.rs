//! GPU tests of failure: an impossible allocation, a bad launch configuration, a source
//! that does not compile and a missing kernel each give an error with a useful message,
//! and the process goes on working afterwards.

mod common;

use common::test_module;
use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{Compiler, DeviceBuffer, Dim3, Error, LaunchConfig, Stream};

/// A fresh allocation and round trip still work.
fn still_works(stream: &Stream) {
    let data: Vec<u32> = (0..1000).collect();
    let buf = DeviceBuffer::from_host(stream, &data).expect("allocation after an error");
    assert_eq!(buf.to_vec().expect("copy after an error"), data);
}

#[test]
fn impossible_allocation_says_how_much_was_asked_and_is_free() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let err = DeviceBuffer::<u8>::new(&stream, 1 << 50).expect_err("1 PiB cannot fit");
    let msg = err.to_string();
    println!("{msg}");
    let Error::Hip(e) = &err else {
        panic!("expected a HipError, got {msg}")
    };
    assert_eq!(e.op, "hipMalloc");
    assert_eq!(
        e.code,
        hip_runtime::hipError_t::hipErrorOutOfMemory,
        "{msg}"
    );
    assert!(msg.contains("asked for 1024.00 TiB"), "{msg}");
    assert!(msg.contains("free of"), "{msg}");
    still_works(&stream);
}

#[test]
fn bad_launch_configuration_is_an_error() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let stream = Stream::new(&device).unwrap();
    let fill = test_module(&device).kernel("fill").unwrap();
    let buf = DeviceBuffer::<f32>::zeroed(&stream, 4096).unwrap();
    let cfg = LaunchConfig {
        grid: Dim3::x(1),
        block: Dim3::from((64, 64, 1)),
        shared_mem_bytes: 0,
    };
    // SAFETY: `fill(float*, float, unsigned)` on a buffer of 4096 floats.
    let result = unsafe { fill.launch(&stream, cfg, (buf.arg(), 1.0f32, 4096u32)) }
        .and_then(|()| stream.synchronize());
    let err = result.expect_err("4096 threads per block must be refused");
    let msg = err.to_string();
    println!("{msg}");
    assert!(matches!(err, Error::Hip(_)), "{msg}");
    assert!(msg.contains("4096 threads"), "{msg}");
    assert!(msg.contains("fill"), "{msg}");
    assert!(buf.to_vec().unwrap().iter().all(|&v| v == 0.0));
    still_works(&stream);
}

#[test]
fn source_that_does_not_compile_returns_the_log() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let compiler = Compiler::global(device.info().platform).unwrap();
    let bad = "extern \"C\" __global__ void broken(float* out) { out[0] = no_such_thing; }";
    let err = compiler
        .compile("broken.cu", bad, &device.info().arch, &[])
        .expect_err("must not compile");
    let msg = err.to_string();
    println!("{msg}");
    assert!(matches!(err, Error::Compile { .. }), "{msg}");
    assert!(msg.contains("no_such_thing"), "{msg}");
    still_works(&Stream::new(&device).unwrap());
    // The compiler still compiles afterwards.
    test_module(&device).kernel("fill").unwrap();
}

#[test]
fn missing_kernel_names_itself() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let module = test_module(&device);
    let err = module
        .kernel("no_such_kernel")
        .expect_err("not in the module");
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.contains("hipModuleGetFunction"), "{msg}");
    assert!(
        msg.contains("`no_such_kernel` not found in module `runtime_tests`"),
        "{msg}"
    );
    still_works(&Stream::new(&device).unwrap());
    module.kernel("fill").unwrap();
}

#[test]
fn garbage_image_is_refused() {
    let Some(hip) = gpu_or_skip() else { return };
    let device = hip.device(0).unwrap();
    let err = hip_runtime::Module::load(&device, "garbage", &[0u8; 256]).expect_err("not an image");
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.contains("module `garbage`"), "{msg}");
    still_works(&Stream::new(&device).unwrap());
}
