//! Raw HIP C ABI: `repr(C)` types, error codes and function tables loaded at run time.
