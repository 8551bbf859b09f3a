//! Attention and the KV cache: CPU reference, decode and prefill attention, paged KV blocks.
