# Compiler settings shared by every native target (binding.gyp, native/accel, native/sim,
# native/bench), so that all of them compile the core's headers the same way.
{
  'target_defaults': {
    'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
    'cflags_cc': [
      '-std=gnu++20',
      '-fvisibility=hidden',
      '-Wall',
      '-Wextra',
      '-Wno-unused-parameter',
      # Keeps GCC from folding the per-width asm functions into one (ops.h).
      '-fno-ipa-icf',
    ],
  },
}
