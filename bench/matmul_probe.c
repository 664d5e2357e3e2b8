// Products alone, old path against new: dnnl_sgemm (the pre-primitive path) and oneDNN matmul primitives
// (MatmulPrimitive.swift's shapes) on one thread, timed by thread CPU time, alternated over 7 rounds;
// the shapes are one thread's share of ViT-T 224/p16 batch 64 on 2 threads. Used for README's "Speed".
//   gcc -O2 bench/matmul_probe.c -o /tmp/matmul_probe -ldnnl -lgomp && /tmp/matmul_probe
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
void omp_set_num_threads(int);
static double cpu(){struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+1e-9*t.tv_nsec;}
dnnl_engine_t eng; dnnl_stream_t st;
typedef struct { dnnl_primitive_t p; dnnl_exec_arg_t args[4]; int nargs; } P;
P mk(int nd, dnnl_dims_t ad, dnnl_dims_t as, dnnl_dims_t bd, dnnl_dims_t bs, dnnl_dims_t cd, dnnl_dims_t cs, float*A,float*B,float*C, float alpha, float beta){
  P r; dnnl_memory_desc_t a,b,c;
  dnnl_memory_desc_init_by_strides(&a,nd,ad,dnnl_f32,as); dnnl_memory_desc_init_by_strides(&b,nd,bd,dnnl_f32,bs); dnnl_memory_desc_init_by_strides(&c,nd,cd,dnnl_f32,cs);
  dnnl_matmul_desc_t md; dnnl_matmul_desc_init(&md,&a,&b,NULL,&c);
  dnnl_primitive_attr_t attr; dnnl_primitive_attr_create(&attr); dnnl_primitive_attr_set_scratchpad_mode(attr,dnnl_scratchpad_mode_user);
  if(alpha!=1) dnnl_primitive_attr_set_output_scales(attr,1,0,&alpha);
  if(beta!=0){dnnl_post_ops_t po; dnnl_post_ops_create(&po); dnnl_post_ops_append_sum(po,beta); dnnl_primitive_attr_set_post_ops(attr,po);}
  dnnl_primitive_desc_t pd; if(dnnl_primitive_desc_create(&pd,&md,attr,eng,NULL)) {printf("fail\n"); exit(1);}
  const dnnl_memory_desc_t* smd=dnnl_primitive_desc_query_md(pd,dnnl_query_scratchpad_md,0);
  size_t ss=dnnl_memory_desc_get_size(smd);
  void*S=aligned_alloc(64,(ss+64)/64*64);
  dnnl_primitive_create(&r.p,pd);
  dnnl_memory_t ma,mb,mc,ms; dnnl_memory_create(&ma,&a,eng,A);dnnl_memory_create(&mb,&b,eng,B);dnnl_memory_create(&mc,&c,eng,C);dnnl_memory_create(&ms,smd,eng,S);
  r.args[0]=(dnnl_exec_arg_t){DNNL_ARG_SRC,ma}; r.args[1]=(dnnl_exec_arg_t){DNNL_ARG_WEIGHTS,mb}; r.args[2]=(dnnl_exec_arg_t){DNNL_ARG_DST,mc}; r.args[3]=(dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD,ms};
  r.nargs = ss ? 4 : 3;
  return r;
}
void ex(P*p){dnnl_primitive_execute(p->p,st,p->nargs,p->args);}
float* al(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64); for(size_t i=0;i<n;i++)p[i]=rand()/(float)RAND_MAX-0.5f; return p;}
int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
#define R 7
double t_old[16][R], t_new[16][R]; const char* names[16]; double fl[16]; int np=0;
int main(){
  omp_set_num_threads(1);
  dnnl_engine_create(&eng,dnnl_cpu,0); dnnl_stream_create(&st,eng,dnnl_stream_default_flags);
  // Per-thread share of ViT-T b64 on 2 threads: half the rows / half the images.
  int Bimg=32,H=3,N=197,hd=64,D=192,Hm=768,M=Bimg*N;
  float *X=al((size_t)M*Hm), *W=al((size_t)3*D*Hm), *Y=al((size_t)M*3*D), *Y2=al((size_t)M*Hm), *G=al((size_t)3*D*Hm);
  float *qkv=al((size_t)M*3*D), *S=al((size_t)Bimg*H*N*N), *ctx=al((size_t)M*D);
  for(int r=0;r<R;r++){
    np=0; double t;
    // qkv forward: old one [M,192]x[192,576]; new three [M,192]x[192,192]
    {names[np]="qkv fwd (old N=576 | new 3xN=192)"; fl[np]=2.0*M*D*3*D;
     t=cpu(); dnnl_sgemm('N','T',M,3*D,D,1,X,D,W,D,0,Y,3*D); t_old[np][r]=cpu()-t;
     static P p; static int init=0; if(!init){dnnl_dims_t ad={M,D},as={D,1},bd={D,D},bs={1,D},cd={M,D},cs={D,1}; p=mk(2,ad,as,bd,bs,cd,cs,X,W,Y,1,0); init=1;}
     t=cpu(); for(int g=0;g<3;g++){ ex(&p);} t_new[np][r]=cpu()-t; np++;}
    {names[np]="qkv fwd N=576 as one primitive"; fl[np]=2.0*M*D*3*D;
     t=cpu(); dnnl_sgemm('N','T',M,3*D,D,1,X,D,W,D,0,Y,3*D); t_old[np][r]=cpu()-t;
     static P p; static int init=0; if(!init){dnnl_dims_t ad={M,D},as={D,1},bd={D,3*D},bs={1,D},cd={M,3*D},cs={3*D,1}; p=mk(2,ad,as,bd,bs,cd,cs,X,W,Y,1,0); init=1;}
     t=cpu(); ex(&p); t_new[np][r]=cpu()-t; np++;}
    {names[np]="fc1 fwd [M,192]x[192,768]"; fl[np]=2.0*M*D*Hm;
     t=cpu(); dnnl_sgemm('N','T',M,Hm,D,1,X,D,W,D,0,Y2,Hm); t_old[np][r]=cpu()-t;
     static P p; static int init=0; if(!init){dnnl_dims_t ad={M,D},as={D,1},bd={D,Hm},bs={1,D},cd={M,Hm},cs={Hm,1}; p=mk(2,ad,as,bd,bs,cd,cs,X,W,Y2,1,0); init=1;}
     t=cpu(); ex(&p); t_new[np][r]=cpu()-t; np++;}
    {names[np]="fc2 fwd [M,768]x[768,192]"; fl[np]=2.0*M*D*Hm;
     t=cpu(); dnnl_sgemm('N','T',M,D,Hm,1,X,Hm,W,Hm,0,Y,D); t_old[np][r]=cpu()-t;
     static P p; static int init=0; if(!init){dnnl_dims_t ad={M,Hm},as={Hm,1},bd={Hm,D},bs={1,Hm},cd={M,D},cs={D,1}; p=mk(2,ad,as,bd,bs,cd,cs,X,W,Y,1,0); init=1;}
     t=cpu(); ex(&p); t_new[np][r]=cpu()-t; np++;}
    {names[np]="fc1 dX [M,768]x[768,192]"; fl[np]=2.0*M*D*Hm;
     t=cpu(); dnnl_sgemm('N','N',M,D,Hm,1,X,Hm,W,D,0,Y,D); t_old[np][r]=cpu()-t;
     static P p; static int init=0; if(!init){dnnl_dims_t ad={M,Hm},as={Hm,1},bd={Hm,D},bs={D,1},cd={M,D},cs={D,1}; p=mk(2,ad,as,bd,bs,cd,cs,X,W,Y,1,0); init=1;}
     t=cpu(); ex(&p); t_new[np][r]=cpu()-t; np++;}
    // dW fc1: [768, M]^T-ish: old splits rows of dW (m=384 of 768) with lda 768; new k-split half rows, dense
    {names[np]="fc1 dW (old m-half lda | new k-half dense)"; fl[np]=2.0*Hm*D*M;
     t=cpu(); dnnl_sgemm('T','N',Hm/2,D,2*M,1,Y2,Hm,X,D,1,G,D); t_old[np][r]=cpu()-t;
     static P p; static int init=0; if(!init){dnnl_dims_t ad={Hm,M},as={1,Hm},bd={M,D},bs={D,1},cd={Hm,D},cs={D,1}; p=mk(2,ad,as,bd,bs,cd,cs,Y2,X,G,1,1); init=1;}
     t=cpu(); ex(&p); t_new[np][r]=cpu()-t; np++;}
    // attention QK^T: old loop per (image, head) strided from qkv [M, 3D]; new batched groups of 2 images, acbd
    {names[np]="QKt (old per-head loop | new batched groups of 2)"; fl[np]=2.0*Bimg*H*N*N*hd;
     t=cpu(); for(int b=0;b<Bimg;b++) for(int h=0;h<H;h++){ float*q=qkv+(size_t)b*N*3*D+h*hd; dnnl_sgemm('N','T',N,N,hd,0.125f,q,3*D,q+D,3*D,0,S+((size_t)b*H+h)*N*N,N);} t_old[np][r]=cpu()-t;
     static P p; static int init=0; float*Q=qkv, *K=qkv+(size_t)M*D;
     if(!init){dnnl_dims_t ad={2,H,N,hd},as={N*D,hd,D,1},bd={2,H,hd,N},bs={N*D,hd,1,D},cd={2,H,N,N},cs={H*N*N,N*N,N,1}; p=mk(4,ad,as,bd,bs,cd,cs,Q,K,S,0.125f,0); init=1;}
     t=cpu(); for(int g=0;g<Bimg/2;g++){ dnnl_memory_set_data_handle(p.args[0].memory,Q+(size_t)g*2*N*D); dnnl_memory_set_data_handle(p.args[1].memory,K+(size_t)g*2*N*D); dnnl_memory_set_data_handle(p.args[2].memory,S+(size_t)g*2*H*N*N); ex(&p);} t_new[np][r]=cpu()-t; np++;}
    {names[np]="PV (old per-head loop | new batched groups of 2)"; fl[np]=2.0*Bimg*H*N*N*hd;
     t=cpu(); for(int b=0;b<Bimg;b++) for(int h=0;h<H;h++){ float*v=qkv+(size_t)b*N*3*D+2*D+h*hd; dnnl_sgemm('N','N',N,hd,N,1,S+((size_t)b*H+h)*N*N,N,v,3*D,0,ctx+(size_t)b*N*D+h*hd,D);} t_old[np][r]=cpu()-t;
     static P p; static int init=0; float*V=qkv+(size_t)2*M*D;
     if(!init){dnnl_dims_t ad={2,H,N,N},as={H*N*N,N*N,N,1},bd={2,H,N,hd},bs={N*D,hd,D,1},cd={2,H,N,hd},cs={N*D,hd,D,1}; p=mk(4,ad,as,bd,bs,cd,cs,S,V,ctx,1,0); init=1;}
     t=cpu(); for(int g=0;g<Bimg/2;g++){ dnnl_memory_set_data_handle(p.args[0].memory,S+(size_t)g*2*H*N*N); dnnl_memory_set_data_handle(p.args[1].memory,V+(size_t)g*2*N*D); dnnl_memory_set_data_handle(p.args[2].memory,ctx+(size_t)g*2*N*D); ex(&p);} t_new[np][r]=cpu()-t; np++;}
    {names[np]="dK=dS^T Q (old loop | new batched groups of 2)"; fl[np]=2.0*Bimg*H*N*N*hd;
     t=cpu(); for(int b=0;b<Bimg;b++) for(int h=0;h<H;h++){ float*q=qkv+(size_t)b*N*3*D+h*hd; dnnl_sgemm('T','N',N,hd,N,0.125f,S+((size_t)b*H+h)*N*N,N,q,3*D,0,Y+(size_t)b*N*3*D+D+h*hd,3*D);} t_old[np][r]=cpu()-t;
     static P p; static int init=0; float*Q=qkv;
     if(!init){dnnl_dims_t ad={2,H,N,N},as={H*N*N,N*N,1,N},bd={2,H,N,hd},bs={N*D,hd,D,1},cd={2,H,N,hd},cs={N*D,hd,D,1}; p=mk(4,ad,as,bd,bs,cd,cs,S,Q,ctx,0.125f,0); init=1;}
     t=cpu(); for(int g=0;g<Bimg/2;g++){ dnnl_memory_set_data_handle(p.args[0].memory,S+(size_t)g*2*H*N*N); dnnl_memory_set_data_handle(p.args[1].memory,Q+(size_t)g*2*N*D); dnnl_memory_set_data_handle(p.args[2].memory,ctx+(size_t)g*2*N*D); ex(&p);} t_new[np][r]=cpu()-t; np++;}
  }
  printf("%-50s %9s %9s %7s   (thread CPU time, median of %d alternated rounds, 1 thread)\n","product","old GF/s","new GF/s","new/old",R);
  for(int i=0;i<np;i++){ double r_[R]; for(int r=0;r<R;r++) r_[r]=t_old[i][r]/t_new[i][r]; qsort(t_old[i],R,sizeof(double),cmp); qsort(t_new[i],R,sizeof(double),cmp); qsort(r_,R,sizeof(double),cmp);
    printf("%-50s %9.1f %9.1f %7.3f\n",names[i],fl[i]/t_old[i][R/2]/1e9,fl[i]/t_new[i][R/2]/1e9,r_[R/2]); }
}
