# torch matmul GFLOP/s in f32, bf16 and f16 on 2 threads at 1024^3 and W2's shapes:
# does this CPU run bf16 GEMM faster than f32 (AVX512-BF16 / AMX)? Run with the peers venv:
# ~/.cache/peers-venv/bin/python scripts/bf16_matmul.py
import torch, time
torch.set_num_threads(2)
def bench(m,k,n,dt,reps=20):
    a=torch.randn(m,k,dtype=dt); b=torch.randn(k,n,dtype=dt)
    for _ in range(3): a@b
    best=1e9
    for _ in range(5):
        t=time.perf_counter()
        for _ in range(reps): a@b
        best=min(best,(time.perf_counter()-t)/reps)
    return 2*m*k*n/best/1e9
for shape in [(1024,1024,1024),(128,784,512),(128,512,512),(512,128,784)]:
    f=bench(*shape,torch.float32); h=bench(*shape,torch.bfloat16); g=bench(*shape,torch.float16)
    print(shape, f"f32 {f:.0f} GFLOP/s  bf16 {h:.0f}  f16 {g:.0f}  bf16/f32 {h/f:.2f}")
print(torch.__version__, torch.backends.mkldnn.is_available())
