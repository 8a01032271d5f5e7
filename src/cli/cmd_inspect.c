/* fraudd inspect: what a model file holds and what it compiles to. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char *act_name(fr_act a) {
    switch (a) {
    case FR_ACT_RELU: return "relu";
    case FR_ACT_LEAKY_RELU: return "leaky_relu";
    case FR_ACT_SIGMOID: return "sigmoid";
    case FR_ACT_TANH: return "tanh";
    default: return "none";
    }
}

int fr__cmd_inspect(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))) {
        fprintf(argc > 2 ? stderr : stdout,
                "usage: fraudd inspect [MODEL.onnx]\n  without MODEL: the embedded default model\n");
        return argc > 2 ? FR_EXIT_USAGE : FR_EXIT_OK;
    }
    fr_model *m = fr__cli_load_model(argc == 2 ? argv[1] : NULL);
    if (!m) return FR_EXIT_MODEL;
    size_t nin = fr_model_n_features(m);
    printf("model:      %s\n", fr_model_origin(m));
    printf("version:    %s\n", fr_model_version(m));
    printf("producer:   %s\n", fr_model_producer(m));
    printf("kind:       %s\n", fr_model_get_kind(m) == FR_MODEL_AUTOENCODER
                                   ? "autoencoder (score = weighted reconstruction MSE)"
                                   : "scorer (score = the model's output)");
    if (isfinite(fr_model_threshold(m))) printf("threshold:  %.9g\n", fr_model_threshold(m));
    else printf("threshold:  (none in the model: pass --threshold)\n");
    printf("inputs:     %zu features, outputs: %zu\n", nin, fr_model_n_outputs(m));
    printf("source ops: %s\n", fr_model_source_ops(m));
    printf("kernels:    %s (the widest SIMD set this CPU runs)\n", fr_model_kernel());
    const double *edges, *share;
    size_t bins = fr_model_score_bins(m, &edges, &share);
    if (bins)
        printf("score hist: %zu bins, edges %.6g .. %.6g (fraudd.score_histogram: score drift, docs/METRICS.md)\n",
               bins, edges[0], edges[bins - 2]);
    else printf("score hist: (none: no score drift metric)\n");
    printf("features:\n");
    for (size_t i = 0; i < nin; i++) {
        float d;
        printf("  %3zu %-24s", i, fr_model_feature_name(m, i));
        if (fr_model_feature_log1p(m, i)) printf(" log1p");
        if (fr_model_feature_default(m, i, &d)) printf(" default=%g", (double)d);
        if (fr_model_error_weight(m, i) != 1.0f) printf(" weight=%.6g", (double)fr_model_error_weight(m, i));
        printf("\n");
    }
    printf("compiled plan (%zu fused layers):\n", fr_model_n_layers(m));
    for (size_t i = 0; i < fr_model_n_layers(m); i++) {
        fr_layer_info li;
        fr_model_layer_info(m, i, &li);
        printf("  %2zu %4zu -> %-4zu %-10s", i, li.in, li.out, act_name(li.act));
        if (li.act == FR_ACT_LEAKY_RELU) printf(" alpha=%g", (double)li.alpha);
        printf(" <- %s\n", li.ops);
    }
    fr_model_free(m);
    return FR_EXIT_OK;
}
