//! GPU tests of the vendor BLAS path (hipBLAS / cuBLAS) against a CPU product.

use hip_runtime::testing::gpu_or_skip;
use hip_runtime::{BlasDataType, BlasHandle, BlasOp, DeviceBuffer, Error, Gemm, Stream};

/// Column-major reference: C = A(m×k) · B(k×n).
fn cpu_gemm(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for j in 0..n {
        for i in 0..m {
            c[j * m + i] = (0..k).map(|p| a[p * m + i] * b[j * k + p]).sum();
        }
    }
    c
}

fn blas_or_skip(stream: &Stream) -> Option<BlasHandle> {
    match BlasHandle::new(stream) {
        Ok(h) => Some(h),
        Err(e @ Error::BlasUnavailable { .. }) => {
            println!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn sgemm_strided_batched_matches_cpu() {
    let Some(hip) = gpu_or_skip() else { return };
    let stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let Some(blas) = blas_or_skip(&stream) else {
        return;
    };
    let (m, n, k, batch) = (37, 19, 53, 3);
    let a: Vec<f32> = (0..m * k * batch)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
        .collect();
    let b: Vec<f32> = (0..k * n * batch)
        .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
        .collect();
    let da = DeviceBuffer::from_host(&stream, &a).unwrap();
    let db = DeviceBuffer::from_host(&stream, &b).unwrap();
    let mut dc = DeviceBuffer::<f32>::zeroed(&stream, m * n * batch).unwrap();
    let gemm = Gemm {
        stride_a: m * k,
        stride_b: k * n,
        stride_c: m * n,
        batch,
        ..Gemm::dense(BlasOp::N, BlasOp::N, m, n, k)
    };
    blas.sgemm_strided_batched(
        &gemm,
        1.0,
        &da.as_slice(),
        &db.as_slice(),
        0.0,
        &mut dc.as_slice_mut(),
    )
    .unwrap();
    let c = dc.to_vec().unwrap();
    for t in 0..batch {
        let want = cpu_gemm(&a[t * m * k..][..m * k], &b[t * k * n..][..k * n], m, n, k);
        for (i, (g, w)) in c[t * m * n..][..m * n].iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-3 * (1.0 + w.abs()),
                "batch {t} elem {i}: {g} vs {w}"
            );
        }
    }
    // Too small an operand is refused before the call, and the handle still works.
    let short = DeviceBuffer::<f32>::zeroed(&stream, 10).unwrap();
    let err = blas
        .sgemm_strided_batched(
            &gemm,
            1.0,
            &short.as_slice(),
            &db.as_slice(),
            0.0,
            &mut dc.as_slice_mut(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("A holds 10 elements"), "{err}");
}

#[test]
fn gemm_ex_f32_matches_cpu() {
    let Some(hip) = gpu_or_skip() else { return };
    let stream = Stream::new(&hip.device(0).unwrap()).unwrap();
    let Some(blas) = blas_or_skip(&stream) else {
        return;
    };
    let (m, n, k) = (16, 8, 32);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 9) as f32 - 4.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 2.0).collect();
    let da = DeviceBuffer::from_host(&stream, &a).unwrap();
    let db = DeviceBuffer::from_host(&stream, &b).unwrap();
    let dc = DeviceBuffer::<f32>::zeroed(&stream, m * n).unwrap();
    let gemm = Gemm::dense(BlasOp::N, BlasOp::N, m, n, k);
    // SAFETY: dense f32 operands of exactly the shape given.
    let r = unsafe {
        blas.gemm_ex(
            &gemm,
            1.0,
            (da.device_ptr(), BlasDataType::F32),
            (db.device_ptr(), BlasDataType::F32),
            0.0,
            (dc.device_ptr(), BlasDataType::F32),
        )
    };
    match r {
        Err(e @ Error::BlasUnavailable { .. }) => {
            println!("skipped: {e}");
            return;
        }
        other => other.unwrap(),
    }
    assert_eq!(dc.to_vec().unwrap(), cpu_gemm(&a, &b, m, n, k));
}
