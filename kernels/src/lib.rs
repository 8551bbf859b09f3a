//! GPU kernels as a library: HIP C++ sources, the registry that compiles them, typed launchers.
