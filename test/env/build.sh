#!/usr/bin/env bash
# Builds the pinned upstream components of the local multi-cluster test
# environment from the Go module proxy into a cache directory outside the repo:
#   kubernetes  kube-apiserver, kube-scheduler, kube-controller-manager, kubectl
#   etcd        etcd
#   kwok        kwok, plus its "fast" Stage configs in kwok/stages-fast.yaml
#   kuberay     kuberay-operator, plus the KubeRay CRDs in crds/
#   coredns     coredns, each test cluster's DNS (its kubernetes plugin)
#   toxiproxy   toxiproxy-server, the TCP proxy through which e2e tests break the
#               connection between the tool and one test API server
#   ray         a Python venv in ray/ with the pinned ray[default,serve], which every
#               Ray pod of the test clusters runs (test/env/pod-runner.ts)
#
# Usage: test/env/build.sh [--force] [COMPONENT...]   (default: all of them)
#   --force  rebuild even when a component's stamp says it is up to date
#
# Cache: ${SUPERSKYRAY_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/superskyray-testenv}
#   bin/ binaries   crds/ KubeRay CRDs   kwok/ kwok Stage configs   ray/ the Ray venv
#   stamps/ what each component was built from
#   logs/ one build log per component    work/ the generated wrapper Go modules
# Go's module and build caches stay where `go env GOMODCACHE GOCACHE` says, so a
# cold build fills them once and later rebuilds are quick.
#
# Needs Go (1.26 or newer) with a Go module proxy, and Python 3.11 with PyPI for the
# Ray venv: no git, no other downloads.
# Each upstream main package is built from a small generated wrapper module that
# requires the upstream module at its pinned version.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

# Bump when the way a component is built changes, so existing stamps go stale.
RECIPE=2
ALL_COMPONENTS=(kubernetes etcd kwok kuberay coredns toxiproxy ray)

cache=${SUPERSKYRAY_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/superskyray-testenv}
bin_dir=$cache/bin
crd_dir=$cache/crds
kwok_dir=$cache/kwok
stamp_dir=$cache/stamps
log_dir=$cache/logs
work_dir=$cache/work
ray_dir=$cache/ray
# Builds run niced so that they do not starve other work on a small machine.
nice_level=${SUPERSKYRAY_TESTENV_NICE:-15}

# Hermetic Go settings: the local toolchain, module mode, no workspace, static binaries.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export GOWORK=off GO111MODULE=on CGO_ENABLED=0 GOFLAGS=-buildvcs=false

say() { printf '%s\n' "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

force=0
components=()
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    kubernetes|etcd|kwok|kuberay|coredns|toxiproxy|ray) components+=("$arg") ;;
    *) die "unknown argument '$arg' (components: ${ALL_COMPONENTS[*]})" ;;
  esac
done
[[ ${#components[@]} -gt 0 ]] || components=("${ALL_COMPONENTS[@]}")

command -v go >/dev/null 2>&1 || die "Go is not installed (need Go 1.26 or newer)"
go_version=$(go env GOVERSION) || die "'go env GOVERSION' failed"
[[ $go_version =~ ^go1\.([0-9]+) ]] && (( BASH_REMATCH[1] >= 26 )) \
  || die "Go 1.26 or newer is needed, found $go_version"

mkdir -p "$bin_dir" "$crd_dir" "$kwok_dir" "$stamp_dir" "$log_dir" "$work_dir"
# One build at a time per cache (two would share work/); flock is optional.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.build.lock"
  flock -n 9 || { say "waiting for another build.sh using $cache"; flock 9; }
fi

# ---------------------------------------------------------------------------
# Helpers (run inside each component's build subshell, output goes to its log)

# make_wrapper DIR MODULE VERSION STAGING_VERSION PKG...
# Creates in DIR a throwaway module that requires MODULE@VERSION and the given
# packages of it. The upstream go.mod is read for:
#   - its go and godebug lines, copied so the binaries keep upstream's defaults;
#   - its replace directives: those to another module are copied; those to a
#     local path are ignored (Go ignores them in a dependency anyway), except
#     when STAGING_VERSION is set (k8s.io/kubernetes): each
#     `k8s.io/X => ./staging/src/k8s.io/X` becomes `k8s.io/X => k8s.io/X STAGING_VERSION`,
#     since the published staging modules are what those paths hold.
make_wrapper() {
  local dir=$1 module=$2 version=$3 staging=$4
  shift 4
  local pkgs=("$@")
  rm -rf "$dir"
  mkdir -p "$dir"
  cd "$dir"

  local upstream_mod
  upstream_mod=$(go list -m -f '{{.GoMod}}' "$module@$version")
  [[ -s $upstream_mod ]] || { echo "no go.mod for $module@$version"; return 1; }
  echo "upstream go.mod: $upstream_mod"

  go mod init "superskyray.local/testenv/$(basename "$dir")"
  local go_line
  go_line=$(awk '$1 == "go" { print $2; exit }' "$upstream_mod")
  if [[ -n $go_line ]]; then go mod edit -go="$go_line"; fi

  local entry
  while read -r entry; do
    if [[ -n $entry ]]; then go mod edit -godebug="$entry"; fi
  done < <(directive_entries godebug "$upstream_mod")

  local left right old old_v new new_v mapped=0
  while read -r entry; do
    [[ $entry == *"=>"* ]] || continue
    left=${entry%%=>*} right=${entry#*=>}
    read -r old old_v <<<"$left"
    read -r new new_v <<<"$right"
    if [[ $new == ./* || $new == ../* || $new == /* ]]; then
      if [[ -n $staging ]]; then
        [[ $old == k8s.io/* && $new == "./staging/src/$old" ]] \
          || { echo "cannot map local replace '$entry' of $module@$version"; return 1; }
        go mod edit -replace="$old=$old@$staging"
        mapped=$((mapped + 1))
      else
        echo "ignoring local replace: $entry"
      fi
    else
      go mod edit -replace="$old${old_v:+@$old_v}=$new${new_v:+@$new_v}"
      echo "copied replace: $entry"
    fi
  done < <(directive_entries replace "$upstream_mod")
  if [[ -n $staging ]]; then
    (( mapped > 0 )) || { echo "no staging replaces found in $upstream_mod"; return 1; }
    echo "mapped $mapped staging modules to $staging"
  fi

  local get_args=() p
  for p in "${pkgs[@]}"; do get_args+=("$p@$version"); done
  nice -n "$nice_level" go get "${get_args[@]}"

  local got
  got=$(go list -m -f '{{.Version}}' "$module")
  [[ $got == "$version" ]] || { echo "$module resolved to $got, not $version"; return 1; }
  echo "--- wrapper go.mod"
  cat go.mod
}

# directive_entries NAME GOMOD: the entries of directive NAME (single-line or
# block form), one per line, comments stripped.
directive_entries() {
  awk -v d="$1" '
    { sub(/\/\/.*/, ""); sub(/[ \t]+$/, "") }
    $0 ~ "^" d "[ \t]*\\($" { inblock = 1; next }
    inblock && /^[ \t]*\)/  { inblock = 0; next }
    inblock { sub(/^[ \t]+/, ""); if ($0 != "") print; next }
    $1 == d { sub("^" d "[ \t]+", ""); print }
  ' "$2"
}

# go_build OUT PKG LDFLAGS
go_build() {
  echo "--- go build $2 -> $1"
  nice -n "$nice_level" go build -trimpath -ldflags "$3" -o "$1" "$2"
}

# install_bins FROM NAME...: move freshly built binaries into bin/.
install_bins() {
  local from=$1 name
  shift
  for name in "$@"; do
    mv -f "$from/$name" "$bin_dir/$name"
  done
}

# expect_output WHAT PATTERN CMD...: run CMD, fail unless its output has PATTERN.
expect_output() {
  local what=$1 pattern=$2 out
  shift 2
  out=$("$@" 2>&1) || { echo "$what failed to run: $out"; return 1; }
  echo "$what: $(head -n 3 <<<"$out")"
  grep -qF -- "$pattern" <<<"$out" || { echo "$what: expected '$pattern'"; return 1; }
}

# ---------------------------------------------------------------------------
# Components. Each prints nothing on success (its log has the details) and
# returns non-zero on failure. The binaries each one installs are listed in
# outputs_<component> so the up-to-date check can find them.

outputs_kubernetes=(kube-apiserver kube-scheduler kube-controller-manager kubectl)
build_kubernetes() {
  local v=$KUBERNETES_VERSION
  [[ $v =~ ^v1\.([0-9]+)\.[0-9]+ ]] || { echo "unexpected version $v"; return 1; }
  local minor=${BASH_REMATCH[1]}
  local staging="v0.${v#v1.}"   # k8s.io/kubernetes v1.X.Y ships staging modules v0.X.Y
  local dir=$work_dir/kubernetes out=$work_dir/kubernetes/out name
  local pkgs=()
  for name in "${outputs_kubernetes[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
  make_wrapper "$dir" k8s.io/kubernetes "$v" "$staging" "${pkgs[@]}"

  # The version stamping that Kubernetes' own build does, with the release's
  # commit time as build date so the result does not depend on when it is built.
  local date ld="-s -w" p
  date=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=archive -X $p.buildDate=$date"
  done
  mkdir -p "$out"
  for name in "${outputs_kubernetes[@]}"; do
    go_build "$out/$name" "k8s.io/kubernetes/cmd/$name" "$ld"
  done
  expect_output "kube-apiserver --version" "Kubernetes $v" "$out/kube-apiserver" --version
  expect_output "kube-scheduler --version" "Kubernetes $v" "$out/kube-scheduler" --version
  expect_output "kube-controller-manager --version" "Kubernetes $v" "$out/kube-controller-manager" --version
  expect_output "kubectl version --client" "$v" "$out/kubectl" version --client
  install_bins "$out" "${outputs_kubernetes[@]}"
}

outputs_etcd=(etcd)
build_etcd() {
  local v=$ETCD_VERSION dir=$work_dir/etcd out=$work_dir/etcd/out
  # The server module's root package is etcd's main package.
  make_wrapper "$dir" go.etcd.io/etcd/server/v3 "$v" "" go.etcd.io/etcd/server/v3
  mkdir -p "$out"
  go_build "$out/etcd" go.etcd.io/etcd/server/v3 "-s -w"
  expect_output "etcd --version" "etcd Version: ${v#v}" "$out/etcd" --version
  install_bins "$out" etcd
}

outputs_kwok=(kwok)
build_kwok() {
  local v=$KWOK_VERSION dir=$work_dir/kwok out=$work_dir/kwok/out
  make_wrapper "$dir" sigs.k8s.io/kwok "$v" "" sigs.k8s.io/kwok/cmd/kwok
  mkdir -p "$out"
  go_build "$out/kwok" sigs.k8s.io/kwok/cmd/kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${v#v}"
  expect_output "kwok --version" "${v#v}" "$out/kwok" --version

  # kwok does nothing without Stage configs (it exits with "no stages found").
  # Gather the module's "fast" set (the one kwokctl uses by default): nodes
  # become Ready at once and keep a heartbeat lease, pods go straight to Running.
  # Data shipped in the module; pass it to kwok with `-c <file>`.
  local src f
  src=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  mkdir -p "$kwok_dir"
  {
    echo "# kwok Stage configs from sigs.k8s.io/kwok@$v kustomize/stage/{node/fast,node/heartbeat-with-lease,pod/fast}"
    for f in "$src"/node/fast/*.yaml "$src"/node/heartbeat-with-lease/*.yaml "$src"/pod/fast/*.yaml; do
      if [[ $(basename "$f") == kustomization.yaml ]]; then continue; fi
      echo "---"
      cat "$f"
    done
  } >"$kwok_dir/stages-fast.yaml.new"
  local n
  n=$(grep -c '^kind: Stage$' "$kwok_dir/stages-fast.yaml.new" || true)
  (( n >= 3 )) || { echo "expected kwok Stage configs under $src, found $n"; return 1; }
  echo "kwok stages: $n in $kwok_dir/stages-fast.yaml"
  mv -f "$kwok_dir/stages-fast.yaml.new" "$kwok_dir/stages-fast.yaml"
  install_bins "$out" kwok
}

outputs_kuberay=(kuberay-operator)
build_kuberay() {
  local v=$KUBERAY_VERSION dir=$work_dir/kuberay out=$work_dir/kuberay/out
  local module=github.com/ray-project/kuberay/ray-operator
  # The module's root package is the operator's main package.
  make_wrapper "$dir" "$module" "$v" "" "$module"
  mkdir -p "$out"
  go_build "$out/kuberay-operator" "$module" "-s -w"
  expect_output "kuberay-operator --help" "-watch-namespace" "$out/kuberay-operator" --help

  # The CRDs are data shipped in the module; keep them beside the binaries.
  local src f
  src=$(go list -m -f '{{.Dir}}' "$module")/config/crd/bases
  compgen -G "$src/*.yaml" >/dev/null || { echo "no CRDs in $src"; return 1; }
  rm -rf "$crd_dir.new"
  mkdir -p "$crd_dir.new"
  for f in "$src"/*.yaml; do install -m 0644 "$f" "$crd_dir.new/"; done
  echo "CRDs: $(cd "$crd_dir.new" && echo *.yaml)"
  rm -rf "$crd_dir"
  mv "$crd_dir.new" "$crd_dir"
  install_bins "$out" kuberay-operator
}

outputs_coredns=(coredns)
build_coredns() {
  local v=$COREDNS_VERSION dir=$work_dir/coredns out=$work_dir/coredns/out
  local module=github.com/coredns/coredns
  # The module's root package is CoreDNS's main package, with its default plugins (kubernetes among them).
  make_wrapper "$dir" "$module" "$v" "" "$module"
  mkdir -p "$out"
  go_build "$out/coredns" "$module" "-s -w"
  expect_output "coredns -plugins" "kubernetes" "$out/coredns" -plugins
  install_bins "$out" coredns
}

outputs_toxiproxy=(toxiproxy-server)
build_toxiproxy() {
  local v=$TOXIPROXY_VERSION dir=$work_dir/toxiproxy out=$work_dir/toxiproxy/out
  local module=github.com/Shopify/toxiproxy/v2
  make_wrapper "$dir" "$module" "$v" "" "$module/cmd/server"
  mkdir -p "$out"
  # Upstream's release build stamps the version the same way; unstamped, the binary says "git".
  go_build "$out/toxiproxy-server" "$module/cmd/server" "-s -w -X $module.Version=${v#v}"
  expect_output "toxiproxy-server -version" "${v#v}" "$out/toxiproxy-server" -version
  install_bins "$out" toxiproxy-server
}

# The Ray venv is not a binary in bin/: ray/bin/python and ray/bin/ray are its outputs.
outputs_ray=()
build_ray() {
  local v=$RAY_VERSION python=${SUPERSKYRAY_TESTENV_PYTHON:-python3.11}
  command -v "$python" >/dev/null 2>&1 || python=python3
  "$python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
    || { echo "the Ray venv needs Python 3.11 ($python is $("$python" --version 2>&1))"; return 1; }
  rm -rf "$ray_dir.new"
  "$python" -m venv "$ray_dir.new"
  nice -n "$nice_level" "$ray_dir.new/bin/pip" install --no-input --disable-pip-version-check -q "ray[default,serve]==$v"
  expect_output "ray --version" "ray, version $v" "$ray_dir.new/bin/ray" --version
  rm -rf "$ray_dir"
  mv "$ray_dir.new" "$ray_dir"
  # A venv records its own path in its scripts: moved, they name ray.new. Rewrite the shebangs.
  grep -rlF "$ray_dir.new" "$ray_dir/bin" | xargs -r sed -i "s#$ray_dir.new#$ray_dir#g"
  expect_output "ray --version (installed)" "ray, version $v" "$ray_dir/bin/ray" --version
}

# ---------------------------------------------------------------------------

version_of() {
  case $1 in
    kubernetes) echo "$KUBERNETES_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    kuberay) echo "$KUBERAY_VERSION" ;;
    coredns) echo "$COREDNS_VERSION" ;;
    toxiproxy) echo "$TOXIPROXY_VERSION" ;;
    ray) echo "$RAY_VERSION" ;;
  esac
}

# up_to_date COMPONENT STAMP: the stamp matches and every output is there.
up_to_date() {
  local comp=$1 want=$2 name outputs
  [[ -f $stamp_dir/$comp && "$(<"$stamp_dir/$comp")" == "$want" ]] || return 1
  outputs="outputs_${comp}[@]"
  for name in "${!outputs}"; do [[ -x $bin_dir/$name ]] || return 1; done
  if [[ $comp == kuberay ]]; then compgen -G "$crd_dir/*.yaml" >/dev/null || return 1; fi
  if [[ $comp == kwok ]]; then [[ -s $kwok_dir/stages-fast.yaml ]] || return 1; fi
  if [[ $comp == ray ]]; then [[ -x $ray_dir/bin/ray && -x $ray_dir/bin/python ]] || return 1; fi
}

failed=()
for comp in "${components[@]}"; do
  version=$(version_of "$comp")
  stamp="$comp $version $go_version recipe=$RECIPE"
  outputs="outputs_${comp}[@]"
  if (( ! force )) && up_to_date "$comp" "$stamp"; then
    say "$comp $version: up to date (${!outputs})"
    continue
  fi
  rm -f "$stamp_dir/$comp"
  log=$log_dir/$comp.log
  start=$SECONDS
  set +e
  ( set -euo pipefail; "build_$comp" ) >"$log" 2>&1
  rc=$?
  set -e
  if (( rc == 0 )); then
    printf '%s\n' "$stamp" >"$stamp_dir/$comp"
    say "$comp $version: built in $((SECONDS - start))s (${!outputs})"
  else
    say "$comp $version: FAILED after $((SECONDS - start))s; last lines of $log:" >&2
    tail -n 25 "$log" | sed 's/^/    /' >&2
    failed+=("$comp")
  fi
done

if (( ${#failed[@]} )); then
  die "component(s) failed to build: ${failed[*]} (logs in $log_dir)"
fi
say "binaries in $bin_dir; KubeRay CRDs in $crd_dir; kwok stages in $kwok_dir; Ray venv in $ray_dir"
