//! The conversion itself: every tensor of the source decoded (when it is quantized) and
//! encoded to its planned type, rows split across threads, written to a new GGUF file with
//! `general.file_type` set.

use std::io::BufWriter;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use super::output::TempOutput;
use super::{plan, Mix, QuantizeFileError, TensorPlan};
use crate::gguf::{keys, GgufFile, GgufWriter, TensorInfo, Value};
use crate::quants::{dequantize_row, quantize_row};
use crate::GgmlType;

/// `general.quantization_version` written to every output (ggml's current block layouts).
const QUANTIZATION_VERSION: u32 = 2;

/// Reported after each tensor is converted.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// The tensor just converted.
    pub tensor: &'a TensorPlan,
    /// Its index, in file order.
    pub index: usize,
    /// Number of tensors.
    pub n_tensors: usize,
    /// Source bytes converted so far.
    pub bytes_done: u64,
    /// Source bytes in total.
    pub bytes_total: u64,
}

/// What a conversion did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The mix.
    pub mix: Mix,
    /// Every tensor's plan, in file order.
    pub tensors: Vec<TensorPlan>,
    /// Parameters (elements) of all tensors.
    pub parameters: u64,
    /// Tensor bytes in the source.
    pub bytes_in: u64,
    /// Tensor bytes in the output.
    pub bytes_out: u64,
    /// Size of the source file.
    pub file_size_in: u64,
    /// Size of the output file.
    pub file_size_out: u64,
    /// Wall time of the conversion.
    pub elapsed: Duration,
}

impl Summary {
    /// Tensors whose quantized source data was dequantized first.
    pub fn requantized(&self) -> usize {
        self.tensors.iter().filter(|t| t.is_requantized()).count()
    }

    /// Tensors that took a fallback type.
    pub fn fallbacks(&self) -> usize {
        self.tensors.iter().filter(|t| t.fallback).count()
    }
}

/// Converts `src` to `mix`, writing the GGUF file `out` with `threads` threads (at least
/// one), calling `progress` after each tensor; `progress` returning `Break` cancels. The
/// file is written under a temporary name beside `out` and renamed to `out` when complete:
/// on failure or cancel, `out` is untouched and nothing is left behind.
pub fn quantize_file(
    src: &GgufFile,
    out: &Path,
    mix: Mix,
    threads: usize,
    progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
) -> Result<Summary, QuantizeFileError> {
    let started = Instant::now();
    let tensors = plan(src, mix)?;
    let temp = TempOutput::new(out)?;
    let bytes_out = write(src, &temp, mix, &tensors, threads.max(1), progress)?;
    temp.commit()?;
    let io = |source| QuantizeFileError::Io {
        path: out.to_path_buf(),
        source,
    };
    Ok(Summary {
        mix,
        parameters: src.tensors().iter().map(TensorInfo::n_elements).sum(),
        bytes_in: src.tensors().iter().map(TensorInfo::n_bytes).sum(),
        bytes_out,
        file_size_in: src.file_size(),
        file_size_out: std::fs::metadata(out).map_err(io)?.len(),
        elapsed: started.elapsed(),
        tensors,
    })
}

/// Writes the output file; returns its tensor bytes.
fn write(
    src: &GgufFile,
    out: &TempOutput,
    mix: Mix,
    tensors: &[TensorPlan],
    threads: usize,
    progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
) -> Result<u64, QuantizeFileError> {
    let mut writer = GgufWriter::with_metadata(src.metadata().clone());
    let meta = writer.metadata_mut();
    meta.insert(keys::general::FILE_TYPE, Value::U32(mix.file_type()));
    meta.insert(
        keys::general::QUANTIZATION_VERSION,
        Value::U32(QUANTIZATION_VERSION),
    );
    for (info, plan) in src.tensors().iter().zip(tensors) {
        writer.add_tensor(info.name(), plan.to, info.shape())?;
    }
    let file = out.file()?;
    let mut data = writer.begin(BufWriter::new(file))?;
    let bytes_total = src.tensors().iter().map(TensorInfo::n_bytes).sum();
    let mut bytes_done = 0;
    let mut bytes_out = 0;
    for (index, (info, plan)) in src.tensors().iter().zip(tensors).enumerate() {
        let input = src.tensor_data(info)?;
        if plan.is_copy() {
            data.write_tensor(input)?;
            bytes_out += input.len() as u64;
        } else {
            let converted = convert_tensor(info, plan, input, threads)?;
            data.write_tensor(&converted)?;
            bytes_out += converted.len() as u64;
        }
        bytes_done += info.n_bytes();
        let step = progress(Progress {
            tensor: plan,
            index,
            n_tensors: tensors.len(),
            bytes_done,
            bytes_total,
        });
        if step.is_break() {
            return Err(QuantizeFileError::Cancelled);
        }
    }
    let io = |source| QuantizeFileError::Io {
        path: out.path().to_path_buf(),
        source,
    };
    let mut buffered = data.finish()?;
    std::io::Write::flush(&mut buffered).map_err(io)?;
    buffered.get_ref().sync_all().map_err(io)?;
    Ok(bytes_out)
}

/// Converts one tensor's data from `plan.from` to `plan.to`, rows split across threads.
fn convert_tensor(
    info: &TensorInfo,
    plan: &TensorPlan,
    input: &[u8],
    threads: usize,
) -> Result<Vec<u8>, QuantizeFileError> {
    let too_large = || QuantizeFileError::TooLarge {
        tensor: plan.name.clone(),
    };
    let row_len = usize::try_from(info.shape().first().copied().unwrap_or(1))
        .map_err(|_| too_large())?
        .max(1);
    let n_rows = usize::try_from(info.n_elements()).map_err(|_| too_large())? / row_len;
    let in_row = row_bytes(plan.from, row_len).ok_or_else(too_large)?;
    let out_row = row_bytes(plan.to, row_len).ok_or_else(too_large)?;
    let mut output = vec![0u8; n_rows.checked_mul(out_row).ok_or_else(too_large)?];
    let rows_per_chunk = n_rows.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = output
            .chunks_mut(rows_per_chunk * out_row)
            .zip(input.chunks(rows_per_chunk * in_row))
            .map(|(dst, src)| {
                scope.spawn(move || convert_rows(plan, row_len, in_row, out_row, src, dst))
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
        })
    })?;
    Ok(output)
}

/// Bytes of one row of `row_len` elements of `ty`.
fn row_bytes(ty: GgmlType, row_len: usize) -> Option<usize> {
    usize::try_from(ty.bytes_for(row_len as u64)?).ok()
}

/// Converts whole rows from `src` into `dst`, one row at a time.
fn convert_rows(
    plan: &TensorPlan,
    row_len: usize,
    in_row: usize,
    out_row: usize,
    src: &[u8],
    dst: &mut [u8],
) -> Result<(), QuantizeFileError> {
    let mut row = vec![0f32; row_len];
    for (src_row, dst_row) in src.chunks_exact(in_row).zip(dst.chunks_exact_mut(out_row)) {
        dequantize_row(plan.from, src_row, &mut row).map_err(|source| {
            QuantizeFileError::Dequantize {
                tensor: plan.name.clone(),
                ty: plan.from,
                source,
            }
        })?;
        quantize_row(plan.to, &row, dst_row).map_err(|source| QuantizeFileError::Quantize {
            tensor: plan.name.clone(),
            ty: plan.to,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quants::quantize_row;

    /// A small llama-like F32 file: a 1-D norm, an embedding (tied output) and two layers
    /// of attn_v (rows of 256) and attn_q (rows of 96, not whole super-blocks).
    fn synthetic(dir: &Path) -> std::path::PathBuf {
        let mut w = GgufWriter::new();
        w.metadata_mut()
            .insert(keys::general::ARCHITECTURE, Value::String("llama".into()));
        let tensors: [(&str, Vec<u64>); 6] = [
            ("token_embd.weight", vec![256, 8]),
            ("blk.0.attn_norm.weight", vec![256]),
            ("blk.0.attn_v.weight", vec![256, 16]),
            ("blk.0.attn_q.weight", vec![96, 32]),
            ("blk.1.attn_v.weight", vec![256, 16]),
            ("blk.1.attn_q.weight", vec![96, 32]),
        ];
        for (name, shape) in &tensors {
            w.add_tensor(*name, GgmlType::F32, shape).unwrap();
        }
        let path = dir.join("src.gguf");
        let mut data = w.begin(std::fs::File::create(&path).unwrap()).unwrap();
        let mut seed = 7u32;
        for (_, shape) in &tensors {
            let n: u64 = shape.iter().product();
            let values: Vec<u8> = (0..n)
                .flat_map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5).to_le_bytes()
                })
                .collect();
            data.write_tensor(&values).unwrap();
        }
        data.finish().unwrap();
        path
    }

    #[test]
    fn output_is_independent_of_threads_and_follows_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let src = GgufFile::open(synthetic(dir.path())).unwrap();
        let one = dir.path().join("one.gguf");
        let three = dir.path().join("three.gguf");
        let mut calls = 0;
        let summary = quantize_file(&src, &one, Mix::Q4_K_M, 1, &mut |p| {
            calls += 1;
            assert_eq!(p.index + 1, calls);
            assert!(p.bytes_done <= p.bytes_total);
            ControlFlow::Continue(())
        })
        .unwrap();
        quantize_file(&src, &three, Mix::Q4_K_M, 3, &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(calls, 6);
        assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&three).unwrap());
        assert_eq!(summary.requantized(), 0);
        assert_eq!(summary.fallbacks(), 2);

        let out = GgufFile::open(&one).unwrap();
        assert_eq!(
            out.metadata().get_u32(keys::general::FILE_TYPE).unwrap(),
            15
        );
        let types: Vec<GgmlType> = out.tensors().iter().map(|t| t.ty()).collect();
        use GgmlType as T;
        // Tied embedding → Q6_K; the norm stays; of 2 layers only the last is a "more
        // bits" layer for attn_v; attn_q's 96-wide rows fall back from Q4_K to Q5_0.
        assert_eq!(types, [T::Q6_K, T::F32, T::Q4_K, T::Q5_0, T::Q6_K, T::Q5_0]);
        // A converted tensor holds exactly what quantize_row makes of the source.
        let info = &src.tensors()[3];
        let mut values = vec![0f32; 96 * 32];
        dequantize_row(T::F32, src.tensor_data(info).unwrap(), &mut values).unwrap();
        let mut expected = vec![0u8; T::Q5_0.bytes_for(96 * 32).unwrap() as usize];
        quantize_row(T::Q5_0, &values, &mut expected).unwrap();
        assert_eq!(out.tensor_data(&out.tensors()[3]).unwrap(), expected);

        // Requantizing the Q4_K_M file to Q8_0 dequantizes its quantized tensors first.
        let again = dir.path().join("again.gguf");
        let summary = quantize_file(&out, &again, Mix::Q8_0, 2, &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(summary.requantized(), 5);
        assert!(summary
            .tensors
            .iter()
            .all(|t| t.to == T::Q8_0 || t.to == T::F32));
    }

    #[test]
    fn a_cancelled_conversion_leaves_the_old_output_and_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = GgufFile::open(synthetic(dir.path())).unwrap();
        let out = dir.path().join("out.gguf");
        std::fs::write(&out, b"previous").unwrap();
        let err = quantize_file(&src, &out, Mix::Q8_0, 1, &mut |p| {
            if p.index == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
        assert!(matches!(err, QuantizeFileError::Cancelled), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"previous");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
