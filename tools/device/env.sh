# Source THERE (GPU machine), from the repo root, with .devdeps carried:
#   source tools/device/env.sh
# Unpacks the carried Debian packages into /opt/bitfold-deps (never into /, whose newer system
# libraries they must not replace) and points CMake, pkg-config and the loader at them.
DEPS=/opt/bitfold-deps
if [[ ! -f $DEPS/.done ]] && compgen -G '.devdeps/*.deb' >/dev/null; then  # only with .devdeps carried
  mkdir -p $DEPS
  for f in .devdeps/*.deb; do dpkg -x "$f" $DEPS; done
  # pkg-config files say prefix=/usr: re-root them.
  find $DEPS -name '*.pc' -exec sed -i "s|^prefix=/usr|prefix=$DEPS/usr|; s|=/usr/|=$DEPS/usr/|g" {} +
  ln -sf openblas-openmp/libopenblas.so.0 $DEPS/usr/lib/x86_64-linux-gnu/libopenblas.so.0
  touch $DEPS/.done
fi
L=$DEPS/usr/lib/x86_64-linux-gnu
export PKG_CONFIG_PATH=$L/pkgconfig:$L/openblas-openmp/pkgconfig:$DEPS/usr/share/pkgconfig
export CMAKE_PREFIX_PATH=$DEPS/usr
export CPATH=$DEPS/usr/include:$DEPS/usr/include/x86_64-linux-gnu/openblas-openmp${CPATH:+:$CPATH}
export LD_LIBRARY_PATH=$L:$L/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=/usr/local/cuda/bin:$PATH
