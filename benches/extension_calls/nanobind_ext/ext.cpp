// The nanobind side of the extension-call benchmark: the same work as the
// dlbridge and rust-numpy extensions, with nanobind's ndarray.
#include <cstddef>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

namespace nb = nanobind;

using Input = nb::ndarray<const float, nb::ndim<1>, nb::device::cpu>;

// The sum of a float32 vector from any DLPack producer (NumPy, torch, ...).
static float sum_f32(Input a) {
    auto v = a.view();
    float total = 0.0f;
    for (std::size_t i = 0; i < v.shape(0); ++i) {
        total += v(i);
    }
    return total;
}

// [0, 1, ..., n-1] as float32 in C++-allocated memory, returned as the
// framework's own array (nb::numpy or nb::pytorch); the capsule frees the
// memory when the last array over it goes.
template <typename Framework>
static nb::ndarray<Framework, float, nb::ndim<1>> make(std::size_t n) {
    float *data = new float[n];
    for (std::size_t i = 0; i < n; ++i) {
        data[i] = static_cast<float>(i);
    }
    nb::capsule owner(data, [](void *p) noexcept { delete[] static_cast<float *>(p); });
    return nb::ndarray<Framework, float, nb::ndim<1>>(data, {n}, owner);
}

NB_MODULE(ext_nanobind, m) {
    m.def("sum_f32", &sum_f32, nb::arg("a"));
    m.def("make", &make<nb::numpy>, nb::arg("n"));
    m.def("make_torch", &make<nb::pytorch>, nb::arg("n"));
}
