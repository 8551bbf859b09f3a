//! Safe HIP: devices, streams, events, device buffers, modules and kernels, graphs.
