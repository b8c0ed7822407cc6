# The fd-passing addon for hot upgrades (src/transfer/native/fdpass.c), built by
# `npm install` (node-gyp rebuild) into build/Release/fdpass.node. Linux only.
{
  "targets": [
    {
      "target_name": "fdpass",
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      # nodelete: a worker thread that used the addon unloads it at exit while
      # libuv still has to run our uv_close callbacks; the code must stay mapped.
      "ldflags": ["-Wl,-z,nodelete"],
      "conditions": [
        ["OS=='linux'", { "sources": ["src/transfer/native/fdpass.c"] }],
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
