// Without CUDA the GPU entry points exist but throw, so that callers and tests link and the
// GPU tests skip at run time.
#ifndef BITFOLD_HAVE_CUDA
#include "core/error.h"
#include "kernels/gemm.h"
#include "kernels/quantize.h"

namespace bitfold::kernels {

namespace {
[[noreturn]] void no_cuda(const char* what) { fail("{}: bitfold was built without CUDA", what); }
}  // namespace

struct GemmContext::Impl {};
GemmContext::GemmContext() { no_cuda("GemmContext"); }
GemmContext::~GemmContext() = default;
void gemm_decode(GemmContext&, const FragWeight&, const Int8Act&, const Epilogue&, Stream, const DecodeTuning&) { no_cuda("gemm_decode"); }
void gemm_gemv(const GemvWeight&, const Int8Act&, const Epilogue&, Stream, const GemvOptions&) { no_cuda("gemm_gemv"); }
void gemm_wgmma(GemmContext&, const FragWeight&, const Int8Act&, const Epilogue&, Stream, int) { no_cuda("gemm_wgmma"); }
void gemm_unpack_lt(GemmContext&, const FragWeight&, const Int8Act&, const Epilogue&, Stream) { no_cuda("gemm_unpack_lt"); }
void gemm_int8_lt(GemmContext&, const int8_t*, int64_t, int64_t, const Int8Act&, const Epilogue&, Stream) { no_cuda("gemm_int8_lt"); }
void gemm_int8_tma(GemmContext&, const int8_t*, int64_t, int64_t, const Int8Act&, const Epilogue&, Stream) { no_cuda("gemm_int8_tma"); }
void gemm_unpack_tma(GemmContext&, const FragWeight&, const Int8Act&, const Epilogue&, Stream) { no_cuda("gemm_unpack_tma"); }
void gemm_fp4_tma(GemmContext&, const Fp4Weight&, const Fp8Act&, const Epilogue&, Stream) { no_cuda("gemm_fp4_tma"); }
void gemm_btc(GemmContext&, const BtcWeight&, const PlaneAct&, const Epilogue&, Stream, const DecodeTuning&) { no_cuda("gemm_btc"); }
void epilogue_i32(const int32_t*, int64_t, int64_t, int64_t, const Epilogue&, Stream) { no_cuda("epilogue_i32"); }
void cublas_fp16(GemmContext&, int64_t, int64_t, int64_t, const uint16_t*, const uint16_t*, uint16_t*, Stream) { no_cuda("cublas_fp16"); }
void cublaslt_int8(GemmContext&, int64_t, int64_t, int64_t, const int8_t*, int64_t, const int8_t*, int64_t, int32_t*, Stream) { no_cuda("cublaslt_int8"); }
void cublaslt_fp8(GemmContext&, int64_t, int64_t, int64_t, const uint8_t*, const uint8_t*, uint16_t*, Stream) { no_cuda("cublaslt_fp8"); }
void cublaslt_fp8_f32(GemmContext&, int64_t, int64_t, int64_t, const uint8_t*, int64_t, const uint8_t*, int64_t, float*, Stream) { no_cuda("cublaslt_fp8_f32"); }
void gemm_fp4_gemv(const Fp4Weight&, const Fp8Act&, const Epilogue&, Stream, const GemvOptions&) { no_cuda("gemm_fp4_gemv"); }
void gemm_fp4_lt(GemmContext&, const Fp4Weight&, const Fp8Act&, const Epilogue&, Stream) { no_cuda("gemm_fp4_lt"); }
void unpack_fp4_device(const Fp4Weight&, uint8_t*, int64_t, Stream) { no_cuda("unpack_fp4_device"); }
void pack_frag_device(const int8_t*, int64_t, int64_t, int64_t, int, uint8_t*, Stream, FragOrder) { no_cuda("pack_frag_device"); }
void pack_gemv_device(const int8_t*, int64_t, int64_t, int64_t, int, uint8_t*, Stream) { no_cuda("pack_gemv_device"); }
void pack_btc_weight_device(const int8_t*, int64_t, int64_t, int64_t, int, uint8_t*, Stream) { no_cuda("pack_btc_weight_device"); }
void pack_btc_act_device(const int8_t*, int64_t, int64_t, int64_t, int, uint32_t*, int64_t, Stream) { no_cuda("pack_btc_act_device"); }
void unpack_frag_device(const FragWeight&, int8_t*, int64_t, Stream) { no_cuda("unpack_frag_device"); }
void rmsnorm_quantize(const void*, bool, int64_t, int64_t, int64_t, const float*, const float*, float, const CodesOut&, Stream) { no_cuda("rmsnorm_quantize"); }
void silu_mul_quantize(const void*, const void*, bool, int64_t, int64_t, int64_t, const float*, const CodesOut&, Stream) { no_cuda("silu_mul_quantize"); }

}  // namespace bitfold::kernels
#endif
