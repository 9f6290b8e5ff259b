{
  "targets": [
    {
      "target_name": "percpu",
      "sources": [
        "native/addon.cc",
        "native/bench.cc",
        "native/errors.cc",
        "native/fast_ops.cc",
        "native/region.cc",
        "native/scheduler.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-std=gnu++17"
      ],
      "cflags_cc": [
        "-std=gnu++20",
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-fno-ipa-icf"
      ]
    }
  ]
}
