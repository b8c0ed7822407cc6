{
  "targets": [
    {
      "target_name": "fdpass",
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='linux'", { "sources": ["src/transfer/native/fdpass.c"] }],
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
