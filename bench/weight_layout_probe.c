// Issue 16's "weight layout the primitive prefers": each product of a linear layer that reads a weight
// (forward Y = X·Wᵀ, input gradient dX = dY·W), once with W in its plain row-major layout (what ropim runs)
// and once in the layout oneDNN's matmul picks for it (weights md format_tag_any), the plain weight reordered
// into it once per step (an optimizer step changes W). One thread, thread CPU time, alternated over 9 rounds,
// medians. Shapes: one thread's share of ViT-T 224/p16 batch 64 on 2 threads (M = 32 × 197 rows).
//   gcc -O2 bench/weight_layout_probe.c -o /tmp/weight_layout_probe -ldnnl -lgomp && /tmp/weight_layout_probe
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void omp_set_num_threads(int);
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static dnnl_engine_t eng;
static dnnl_stream_t st;
static void ok(dnnl_status_t s, const char *what) { if (s != dnnl_success) { printf("oneDNN %s failed: %d\n", what, (int)s); exit(1); } }
static float *buffer(size_t n) { float *p = aligned_alloc(64, (n * 4 + 63) / 64 * 64); for (size_t i = 0; i < n; i++) p[i] = rand() / (float)RAND_MAX - 0.5f; return p; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

typedef struct { dnnl_primitive_t p; dnnl_memory_t src, wei, dst; dnnl_primitive_t reorder; dnnl_memory_t plain; } Product;

// C [m, n] = A [m, k] · B [k, n]; B's strides bs (plain weight) or, with any, the layout the primitive prefers.
static Product product(int m, int n, int k, dnnl_dims_t bs, int any, float *A, float *B, float *C) {
  Product r = {0};
  dnnl_memory_desc_t a, b, c, plain;
  dnnl_dims_t ad = {m, k}, as = {k, 1}, bd = {k, n}, cd = {m, n}, cs = {n, 1};
  ok(dnnl_memory_desc_init_by_strides(&a, 2, ad, dnnl_f32, as), "src md");
  ok(dnnl_memory_desc_init_by_strides(&plain, 2, bd, dnnl_f32, bs), "weights md");
  if (any) ok(dnnl_memory_desc_init_by_tag(&b, 2, bd, dnnl_f32, dnnl_format_tag_any), "any md"); else b = plain;
  ok(dnnl_memory_desc_init_by_strides(&c, 2, cd, dnnl_f32, cs), "dst md");
  dnnl_matmul_desc_t md;
  ok(dnnl_matmul_desc_init(&md, &a, &b, NULL, &c), "matmul desc");
  dnnl_primitive_desc_t pd;
  ok(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL), "matmul pd");
  ok(dnnl_primitive_create(&r.p, pd), "matmul");
  const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  ok(dnnl_memory_create(&r.src, &a, eng, A), "src");
  ok(dnnl_memory_create(&r.dst, &c, eng, C), "dst");
  if (any) {
    ok(dnnl_memory_create(&r.plain, &plain, eng, B), "plain");
    ok(dnnl_memory_create(&r.wei, wmd, eng, DNNL_MEMORY_ALLOCATE), "blocked");
    dnnl_primitive_desc_t rpd;
    ok(dnnl_reorder_primitive_desc_create(&rpd, &plain, eng, wmd, eng, NULL), "reorder pd");
    ok(dnnl_primitive_create(&r.reorder, rpd), "reorder");
  } else {
    ok(dnnl_memory_create(&r.wei, &plain, eng, B), "weights");
  }
  return r;
}
static void run(Product *p) {
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->wei}, {DNNL_ARG_DST, p->dst}};
  ok(dnnl_primitive_execute(p->p, st, 3, args), "execute");
}
static void reorder(Product *p) {
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, p->plain}, {DNNL_ARG_TO, p->wei}};
  ok(dnnl_primitive_execute(p->reorder, st, 2, args), "reorder execute");
}

#define ROUNDS 9
int main(void) {
  omp_set_num_threads(1);
  ok(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
  ok(dnnl_stream_create(&st, eng, dnnl_stream_default_flags), "stream");
  const int M = 32 * 197;
  struct { const char *name; int in, out; } layers[] = {{"qkv (one of q, k, v)", 192, 192}, {"proj", 192, 192}, {"fc1", 192, 768}, {"fc2", 768, 192}};
  float *X = buffer((size_t)M * 768), *W = buffer((size_t)768 * 768), *Y = buffer((size_t)M * 768);
  printf("%-22s %-8s %10s %10s %8s %12s\n", "layer", "product", "plain GF/s", "any GF/s", "any/plain", "reorder/use");
  for (int l = 0; l < 4; l++) {
    int in = layers[l].in, out = layers[l].out;
    for (int pass = 0; pass < 2; pass++) {
      // forward: Y [M, out] = X [M, in] · Wᵀ (W [out, in] row-major: B = Wᵀ has strides {1, in});
      // dX [M, in] = dY [M, out] · W (B = W, strides {in, 1}).
      int k = pass == 0 ? in : out, n = pass == 0 ? out : in;
      dnnl_dims_t bs = {pass == 0 ? 1 : in, pass == 0 ? in : 1};
      Product plain = product(M, n, k, bs, 0, X, W, Y), any = product(M, n, k, bs, 1, X, W, Y);
      double tp[ROUNDS], ta[ROUNDS], tr[ROUNDS], ratio[ROUNDS];
      run(&plain); reorder(&any); run(&any);   // warm-up
      for (int r = 0; r < ROUNDS; r++) {
        double t = cpu(); run(&plain); tp[r] = cpu() - t;
        t = cpu(); reorder(&any); tr[r] = cpu() - t;
        t = cpu(); run(&any); ta[r] = cpu() - t;
        ratio[r] = tp[r] / ta[r];
      }
      qsort(tp, ROUNDS, sizeof(double), cmp); qsort(ta, ROUNDS, sizeof(double), cmp);
      qsort(tr, ROUNDS, sizeof(double), cmp); qsort(ratio, ROUNDS, sizeof(double), cmp);
      double flops = 2.0 * M * n * k;
      printf("%-22s %-8s %10.1f %10.1f %8.3f %11.1f%%\n", layers[l].name, pass == 0 ? "forward" : "dX",
             flops / tp[ROUNDS / 2] / 1e9, flops / ta[ROUNDS / 2] / 1e9, ratio[ROUNDS / 2], 100 * tr[ROUNDS / 2] / ta[ROUNDS / 2]);
    }
  }
  return 0;
}
