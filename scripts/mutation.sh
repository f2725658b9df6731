#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the socket, listener, Deferred and streams modules: does
# the suite notice when the code is changed?  See docs/testing.md for the score and the
# surviving mutants.
#
#   bash scripts/mutation.sh          CI: a fixed sample of the mutants (about 10 minutes
#                                     on 2 cores)
#   bash scripts/mutation.sh --full   every mutant (about 4,000: an hour or more)
#
# MUTATION_SAMPLE (default 100) sets the sample's size and MUTATION_SEED (default 19)
# picks another sample.  What is mutated and which tests run are [tool.mutmut] in
# pyproject.toml.  The work happens in a scratch copy, build/mutation/; the score is
# reported, not gated: the script fails only when mutmut itself cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${UNISOCK_VENV:-$root/.venv}
mode=sample
if [ "${1:-}" = "--full" ]; then
  mode=full
fi
sample=${MUTATION_SAMPLE:-100}
seed=${MUTATION_SEED:-19}
children=${MUTATION_CHILDREN:-2}

work=$root/build/mutation
rm -rf "$work"
mkdir -p "$work"
cp -r src tests pyproject.toml "$work"/
find "$work" -name __pycache__ -prune -exec rm -rf {} +
cd "$work"
unset PYTHONPATH  # the mutants are imported from build/mutation/mutants/src only
# No third-party Hypothesis plugins (trio's, if installed, warns at import, which -W error
# turns into a failed run); the selected tests do not use Hypothesis.
export HYPOTHESIS_NO_PLUGINS=1

mutmut=("$venv/bin/mutmut")
start=$(date +%s)

if [ "$mode" = full ]; then
  "${mutmut[@]}" run --max-children "$children" >mutmut.log 2>&1 || {
    tail -n 40 mutmut.log
    exit 1
  }
else
  # 1. Generate the mutants and record which tests reach each function: a run asking
  #    for a mutant that does not exist stops right after that (and says so).
  "${mutmut[@]}" run --max-children "$children" "unisock.list-only*" >generate.log 2>&1 || true
  "${mutmut[@]}" results --all true >all.txt
  if ! grep -q "not checked" all.txt; then
    tail -n 40 generate.log
    exit 1
  fi
  # 2. A sample spread over the modules in proportion to their mutants.
  "$venv/bin/python" - all.txt "$sample" "$seed" >sample.txt <<'EOF'
import hashlib, sys
size, seed = int(sys.argv[2]), sys.argv[3]
names = [line.split(":")[0].strip() for line in open(sys.argv[1]) if line.strip()]
rank = sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest())
print("\n".join(sorted(rank[:size])))
EOF
  if [ ! -s sample.txt ]; then
    echo "no mutant sampled" >&2
    exit 1
  fi
  # shellcheck disable=SC2046
  "${mutmut[@]}" run --max-children "$children" $(cat sample.txt) >mutmut.log 2>&1 || {
    tail -n 40 mutmut.log
    exit 1
  }
fi
elapsed=$(($(date +%s) - start))

# 3. The score per module: killed (a test failed, or the tests hung past their bound) over
#    all mutants tried, "no tests" ones included (no selected test reaches that function).
"${mutmut[@]}" results --all true >results.txt
"$venv/bin/python" - results.txt "$mode" "$elapsed" <<'EOF'
import collections, sys
mode, elapsed = sys.argv[2], int(sys.argv[3])
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
IGNORED = {"not checked", "skipped", "check was interrupted by user"}
per = collections.defaultdict(collections.Counter)
survivors = []
for line in open(sys.argv[1]):
    if ":" not in line:
        continue
    name, status = (part.strip() for part in line.rsplit(":", 1))
    if status in IGNORED:
        continue
    module = name.rsplit(".", 1)[0]  # unisock._api.socket.xǁSocketǁwrite__mutmut_3
    per[module]["killed" if status in KILLED else status] += 1
    if status not in KILLED:
        survivors.append(f"{status:9}  {name}")
total = collections.Counter()
print(f"\nmutation score ({mode} run, {elapsed // 60} min {elapsed % 60} s)")
print(f"{'module':28} {'mutants':>7} {'killed':>6} {'survived':>8} {'no tests':>8}  score")
for module in sorted(per):
    c = per[module]
    n = sum(c.values())
    total.update(c)
    print(f"{module:28} {n:7} {c['killed']:6} {c['survived']:8} {c['no tests']:8}  "
          f"{100 * c['killed'] / n:5.1f}%")
n = sum(total.values())
if n:
    print(f"{'all':28} {n:7} {total['killed']:6} {total['survived']:8} "
          f"{total['no tests']:8}  {100 * total['killed'] / n:5.1f}%")
print(f"\n{len(survivors)} mutants not killed (mutmut show NAME, in build/mutation/):")
print("\n".join(sorted(survivors)))
EOF
