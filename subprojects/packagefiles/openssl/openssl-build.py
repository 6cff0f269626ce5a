#!/usr/bin/env python3
"""Configure (at meson setup) and build (at ninja time) OpenSSL's static libraries."""
import argparse, glob, os, shutil, subprocess, sys

def configure(a, opts):
    os.makedirs(a.bld, exist_ok=True)
    stamp = os.path.join(a.bld, 'meson-configure-args')
    args = [a.perl, os.path.join(a.src, 'Configure'), 'CC=' + a.cc] + opts
    want = '\n'.join(args)
    have = open(stamp).read() if os.path.exists(stamp) else None
    if have != want or not os.path.exists(os.path.join(a.bld, 'Makefile')):
        subprocess.run(args, cwd=a.bld, check=True, stdout=subprocess.DEVNULL)
        with open(stamp, 'w') as f:
            f.write(want)
    subprocess.run([a.make, 'build_generated'], cwd=a.bld, check=True, stdout=subprocess.DEVNULL)
    # One include directory: the source's headers overlaid by the generated ones.
    dst = os.path.join(a.inc, 'openssl')
    os.makedirs(dst, exist_ok=True)
    for d in (os.path.join(a.src, 'include', 'openssl'), os.path.join(a.bld, 'include', 'openssl')):
        for h in glob.glob(os.path.join(d, '*.h')):
            shutil.copy2(h, dst)

def build(a):
    # Its own make, beside ninja's jobs: as many jobs as cores (the longest step of a cold build).
    jobs = '-j%d' % (os.cpu_count() or 1)
    subprocess.run([a.make, jobs, 'libcrypto.a', 'libssl.a'], cwd=a.bld, check=True)
    for lib in ('libcrypto.a', 'libssl.a'):
        shutil.copy2(os.path.join(a.bld, lib), os.path.join(a.out, lib))

def main():
    argv = sys.argv[1:]
    opts = []
    if '--' in argv:
        i = argv.index('--')
        argv, opts = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser()
    p.add_argument('step', choices=['configure', 'build'])
    for o in ('--src', '--bld', '--inc', '--perl', '--make', '--cc', '--out'):
        p.add_argument(o)
    a = p.parse_args(argv)
    if a.step == 'configure':
        configure(a, opts)
    else:
        build(a)

if __name__ == '__main__':
    main()
