{
  "targets": [
    {
      "target_name": "vppmaglev_native",
      "sources": ["src/vppmaglev_native.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"]
    }
  ]
}
