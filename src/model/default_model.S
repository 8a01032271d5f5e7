/* The default model (models/default/fraudd-default.onnx), embedded as bytes.
 * CMake passes FR_DEFAULT_MODEL_PATH and rebuilds this when the file changes. */
    .section .rodata
    .balign 64
    .globl fr__default_model_start
    .globl fr__default_model_end
fr__default_model_start:
    .incbin FR_DEFAULT_MODEL_PATH
fr__default_model_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
