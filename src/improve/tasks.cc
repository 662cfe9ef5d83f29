// The built-in tasks, with the paper's parameters where it gives them
// (Zelikman et al. 2023, sections 5-6 and appendix): LPN with 10 bits, each
// bit in the secret with p = 0.3, 100 train / 20 test samples, 5% label noise;
// max-cut on 300 nodes with edge probability 0.4 and weights 1-10; 3-SAT with
// 50 variables and 200 clauses, satisfiable; modified QAP with n = 15 and
// lambda = 0.5. The normalisations into [0, 1] are lmlab's (docs/improve.md).
#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <numeric>
#include <optional>
#include <random>

#include "improve/internal.h"
#include "lmlab/improve/task.h"

namespace lmlab::improve {
namespace {

using nlohmann::json;

// Flattens a nested list of numbers; false when it holds anything else.
bool Flatten(const json& j, std::vector<double>& out, int depth = 0) {
  if (j.is_number()) {
    out.push_back(j.get<double>());
    return true;
  }
  if (j.is_boolean()) {
    out.push_back(j.get<bool>() ? 1 : 0);
    return true;
  }
  if (!j.is_array() || depth > 4) return false;
  for (const json& v : j)
    if (!Flatten(v, out, depth + 1)) return false;
  return true;
}

// The output flattened to exactly n numbers; nothing when it has another shape.
std::optional<std::vector<double>> FlatValues(const json& output, size_t n) {
  std::vector<double> v;
  if (!Flatten(output, v) || v.size() != n) return std::nullopt;
  return v;
}

InstanceScore WrongShape() {
  return {.wrong_shape = true};
}

// A well-shaped output's score (a broadcasting scorer would agree).
InstanceScore Scored(double value) {
  return {.value = value, .naive_value = value};
}

int Depth(const json& j) {
  int d = 0;
  const json* p = &j;
  while (p->is_array() && !p->empty()) {
    ++d;
    p = &(*p)[0];
  }
  return d;
}

// Accuracy of 0/1 predictions. The output must hold exactly one value per
// label (the paper's utility reshapes to 1-D, so any nesting of n values is
// fine). More values are a wrong shape: a broadcasting comparison, as the
// paper's numpy-based utility did, would count matches over the whole
// broadcast array and could score above 1; we report that as naive_value.
InstanceScore ScoreLabels(const json& output, const json& answer) {
  std::vector<double> pred;
  std::vector<int> truth = answer.get<std::vector<int>>();
  size_t n = truth.size();
  if (!Flatten(output, pred)) return WrongShape();
  if (pred.size() != n) {
    InstanceScore s = WrongShape();
    if (!pred.empty() && pred.size() % n == 0 && Depth(output) >= 2) {
      // [k, n] compared with [n] broadcasts row by row.
      double matches = 0;
      for (size_t i = 0; i < pred.size(); ++i) matches += pred[i] == truth[i % n];
      s.naive_value = matches / n;
    }
    return s;
  }
  double correct = 0;
  for (size_t i = 0; i < n; ++i) correct += pred[i] == truth[i];
  return Scored(correct / n);
}

Instance MakeParity(uint64_t seed, double noise) {
  constexpr int kBits = 10, kTrain = 100, kTest = 20;
  constexpr double kPSecret = 0.3;
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution in_secret(kPSecret), coin(0.5), flip(noise);
  std::vector<int> secret(kBits);
  for (int& b : secret) b = in_secret(rng);
  auto sample = [&](int n, std::vector<std::vector<int>>& x, std::vector<int>& y, bool noisy) {
    for (int i = 0; i < n; ++i) {
      std::vector<int> row(kBits);
      int parity = 0;
      for (int b = 0; b < kBits; ++b) {
        row[b] = coin(rng);
        parity ^= row[b] & secret[b];
      }
      if (noisy && flip(rng)) parity ^= 1;
      x.push_back(row);
      y.push_back(parity);
    }
  };
  std::vector<std::vector<int>> train_x, test_x;
  std::vector<int> train_y, test_y;
  sample(kTrain, train_x, train_y, true);
  sample(kTest, test_x, test_y, false);
  return {json::array({train_x, train_y, test_x}), json(test_y)};
}

Task ParityTask(bool noisy) {
  Task t;
  t.name = noisy ? "lpn" : "parity";
  t.title = noisy ? "learning parity with noise" : "learning parity without noise";
  t.seed_solution = internal::EmbeddedText(noisy ? "data/improve/tasks/lpn.py" : "data/improve/tasks/parity.py");
  t.numpy_args = {0, 1, 2};
  t.time_limit_seconds = 0.25;
  std::string noise = noisy ? "; 5% of the training labels are flipped" : "; labels are exact";
  t.description = "Learn an unknown parity function of 10-bit inputs from labelled samples" + noise + ".";
  t.utility_description =
      "def utility(algorithm_str):\n"
      "    # Runs algorithm(train_samples, train_parity, test_samples) on 3 fresh random instances.\n"
      "    # Each instance: a secret subset of 10 bits (each bit in it with probability 0.3);\n"
      "    # train_samples: numpy int array [100, 10] of random bits; train_parity: [100], the\n"
      "    # parity of the secret bits" + std::string(noisy ? ", each label flipped with probability 0.05" : "") + ";\n"
      "    # test_samples: [20, 10]. The algorithm returns 20 predicted labels (0/1).\n"
      "    # Returns the mean test accuracy in [0, 1]; an instance slower than 0.25 s scores 0.\n";
  double p = noisy ? 0.05 : 0.0;
  t.make_instance = [p](uint64_t seed) { return MakeParity(seed, p); };
  t.score = ScoreLabels;
  return t;
}

Task MaxCutTask() {
  static constexpr int kNodes = 300;
  Task t;
  t.name = "maxcut";
  t.title = "max-cut";
  t.seed_solution = internal::EmbeddedText("data/improve/tasks/maxcut.py");
  t.time_limit_seconds = 2;
  t.instances_per_call = 1;
  t.description = "Split the nodes of a weighted random graph into two sides to maximise the weight of edges cut.";
  t.utility_description =
      "def utility(algorithm_str):\n"
      "    # Runs algorithm(n_nodes, edges) on a random graph: 300 nodes, each pair joined with\n"
      "    # probability 0.4, integer weights 1-10; edges = [[u, v, weight], ...].\n"
      "    # The algorithm returns one side (0 or 1) per node. Returns the cut weight divided by\n"
      "    # the total edge weight, in [0, 1]; slower than 2 s scores 0.\n";
  t.make_instance = [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::bernoulli_distribution edge(0.4);
    std::uniform_int_distribution<int> weight(1, 10);
    json edges = json::array();
    for (int u = 0; u < kNodes; ++u)
      for (int v = u + 1; v < kNodes; ++v)
        if (edge(rng)) edges.push_back({u, v, weight(rng)});
    return Instance{json::array({kNodes, edges}), edges};
  };
  t.score = [](const json& output, const json& edges) {
    auto side = FlatValues(output, kNodes);
    if (!side) return WrongShape();
    double cut = 0, total = 0;
    for (const json& e : edges) {
      double w = e[2].get<double>();
      total += w;
      if (((*side)[e[0].get<int>()] != 0) != ((*side)[e[1].get<int>()] != 0)) cut += w;
    }
    return Scored(total > 0 ? cut / total : 0);
  };
  return t;
}

Task SatTask() {
  static constexpr int kVars = 50, kClauses = 200;
  Task t;
  t.name = "3sat";
  t.title = "3-SAT";
  t.seed_solution = internal::EmbeddedText("data/improve/tasks/3sat.py");
  t.time_limit_seconds = 1;
  t.description = "Find an assignment satisfying a random satisfiable 3-SAT formula.";
  t.utility_description =
      "def utility(algorithm_str):\n"
      "    # Runs algorithm(n_vars, clauses) on 3 random satisfiable formulas with 50 variables and\n"
      "    # 200 clauses of 3 literals (k means variable k is true, -k false; variables 1..50).\n"
      "    # The algorithm returns 50 booleans (index 0 is variable 1). Returns the mean fraction of\n"
      "    # satisfied clauses, in [0, 1]; slower than 1 s scores 0.\n";
  t.make_instance = [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::bernoulli_distribution coin(0.5);
    std::uniform_int_distribution<int> var(1, kVars);
    std::vector<bool> planted(kVars + 1);
    for (int v = 1; v <= kVars; ++v) planted[v] = coin(rng);
    json clauses = json::array();
    while (int(clauses.size()) < kClauses) {
      json c = json::array();
      bool sat = false;
      for (int k = 0; k < 3; ++k) {
        int v = var(rng);
        int lit = coin(rng) ? v : -v;
        sat = sat || ((lit > 0) == planted[v]);
        c.push_back(lit);
      }
      if (sat) clauses.push_back(c);  // keeps the planted assignment a solution
    }
    return Instance{json::array({kVars, clauses}), clauses};
  };
  t.score = [](const json& output, const json& clauses) {
    auto a = FlatValues(output, kVars);
    if (!a) return WrongShape();
    double ok = 0;
    for (const json& c : clauses) {
      bool sat = false;
      for (const json& l : c) {
        int lit = l.get<int>();
        sat = sat || ((lit > 0) == ((*a)[std::abs(lit) - 1] != 0));
      }
      ok += sat;
    }
    return Scored(ok / double(clauses.size()));
  };
  return t;
}

Task QapTask() {
  static constexpr int kN = 15;
  static constexpr double kLambda = 0.5;
  Task t;
  t.name = "qap";
  t.title = "modified quadratic assignment";
  t.seed_solution = internal::EmbeddedText("data/improve/tasks/qap.py");
  t.time_limit_seconds = 1;
  t.description = "Assign 15 facilities to 15 locations to minimise flow x distance plus a placement cost.";
  t.utility_description =
      "def utility(algorithm_str):\n"
      "    # Runs algorithm(flow, distance, placement_cost) on 3 random instances with n = 15:\n"
      "    # flow and distance are symmetric [15, 15] integer matrices, placement_cost [15, 15].\n"
      "    # The algorithm returns a permutation p (facility i at location p[i]). Its cost is\n"
      "    # (1 - 0.5) * sum_ij flow[i][j] * distance[p[i]][p[j]] + 0.5 * sum_i placement_cost[i][p[i]].\n"
      "    # Score: 0.5 + (mean random cost - cost) / mean random cost, clipped to [0, 1];\n"
      "    # not a permutation or slower than 1 s scores 0.\n";
  t.make_instance = [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> val(0, 9), place(0, 99);
    auto sym = [&] {
      std::vector<std::vector<int>> m(kN, std::vector<int>(kN, 0));
      for (int i = 0; i < kN; ++i)
        for (int j = i + 1; j < kN; ++j) m[i][j] = m[j][i] = val(rng);
      return m;
    };
    auto flow = sym(), dist = sym();
    std::vector<std::vector<int>> pc(kN, std::vector<int>(kN));
    for (auto& row : pc)
      for (int& v : row) v = place(rng);
    auto cost = [&](const std::vector<int>& p) {
      double q = 0, l = 0;
      for (int i = 0; i < kN; ++i) {
        l += pc[i][p[i]];
        for (int j = 0; j < kN; ++j) q += flow[i][j] * dist[p[i]][p[j]];
      }
      return (1 - kLambda) * q + kLambda * l;
    };
    std::vector<int> p(kN);
    std::iota(p.begin(), p.end(), 0);
    double mean = 0;
    constexpr int kSamples = 200;
    for (int s = 0; s < kSamples; ++s) {
      std::shuffle(p.begin(), p.end(), rng);
      mean += cost(p) / kSamples;
    }
    json answer = {{"flow", flow}, {"distance", dist}, {"placement_cost", pc}, {"random_cost", mean}};
    return Instance{json::array({flow, dist, pc}), answer};
  };
  t.score = [](const json& output, const json& a) {
    auto p = FlatValues(output, kN);
    if (!p) return WrongShape();
    std::vector<int> perm(kN);
    std::vector<bool> seen(kN, false);
    for (int i = 0; i < kN; ++i) {
      double d = (*p)[i];
      if (!(d >= 0 && d < kN) || d != std::floor(d)) return WrongShape();  // checked before the cast
      int v = static_cast<int>(d);
      if (seen[v]) return WrongShape();
      seen[v] = true;
      perm[i] = v;
    }
    double q = 0, l = 0;
    for (int i = 0; i < kN; ++i) {
      l += a["placement_cost"][i][perm[i]].get<double>();
      for (int j = 0; j < kN; ++j)
        q += a["flow"][i][j].get<double>() * a["distance"][perm[i]][perm[j]].get<double>();
    }
    double cost = (1 - kLambda) * q + kLambda * l, mean = a["random_cost"].get<double>();
    return Scored(std::clamp(0.5 + (mean - cost) / mean, 0.0, 1.0));
  };
  return t;
}

Task GridDistanceTask() {
  static constexpr int kLen = 24;
  Task t;
  t.name = "grid_distance";
  t.title = "string grid distance";
  t.seed_solution = internal::EmbeddedText("data/improve/tasks/grid_distance.py");
  t.time_limit_seconds = 0.5;
  t.instances_per_call = 5;
  t.description =
      "Two strings of A and B of equal length with the same number of A's: find the fewest swaps of "
      "neighbouring characters that turn the first into the second.";
  t.utility_description =
      "def utility(algorithm_str):\n"
      "    # Runs algorithm(a, b) on 5 random pairs of 24-character strings over 'A' and 'B' with\n"
      "    # equal numbers of A's. The algorithm returns the minimum number of adjacent swaps that\n"
      "    # turn a into b. Returns the fraction answered exactly; slower than 0.5 s scores 0.\n";
  t.make_instance = [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> count(1, kLen - 1);
    int n_a = count(rng);
    std::string a(kLen, 'B');
    std::fill(a.begin(), a.begin() + n_a, 'A');
    std::string b = a;
    std::shuffle(a.begin(), a.end(), rng);
    std::shuffle(b.begin(), b.end(), rng);
    long dist = 0;  // the k-th A of a moves to the k-th A of b
    std::vector<int> pa, pb;
    for (int i = 0; i < kLen; ++i) {
      if (a[i] == 'A') pa.push_back(i);
      if (b[i] == 'A') pb.push_back(i);
    }
    for (size_t k = 0; k < pa.size(); ++k) dist += std::abs(pa[k] - pb[k]);
    return Instance{json::array({a, b}), dist};
  };
  t.score = [](const json& output, const json& answer) {
    if (!output.is_number()) return WrongShape();
    return Scored(output.get<double>() == answer.get<double>() ? 1.0 : 0.0);
  };
  return t;
}

// The area bound: n disjoint circles in the unit square have sum pi r^2 <= 1,
// so sum r <= sqrt(n / pi) (Cauchy-Schwarz). Utility = sum of radii / bound.
double CirclePackingBound(int n) { return std::sqrt(n / std::numbers::pi); }

// Circle packing as AlphaEvolve (Novikov et al. 2025), OpenEvolve and
// ShinkaEvolve report it: n circles in the unit square, maximise the sum of
// radii; a packing with overlapping circles or a circle leaving the square
// scores 0. Distances and borders are checked with an absolute tolerance of
// kCirclePackingTolerance (lmlab's choice, stated in docs/improve.md).
Task CirclePackingTask(int n) {
  Task t;
  t.name = fmt::format("circle_packing_{}", n);
  t.title = fmt::format("circle packing, n = {}", n);
  t.seed_solution = internal::EmbeddedText("data/improve/tasks/circle_packing.py");
  t.time_limit_seconds = 30;
  t.instances_per_call = 1;
  t.distinct_instances = 1;
  t.description = fmt::format(
      "Place {} disjoint circles inside the unit square so that the sum of their radii is as large as possible.",
      n);
  t.utility_description = fmt::format(
      "def utility(algorithm_str):\n"
      "    # Runs algorithm({0}) once; it returns {0} triples [x, y, r] (centre and radius).\n"
      "    # Every circle must lie inside the unit square [0, 1] x [0, 1] and no two may overlap\n"
      "    # (absolute tolerance 1e-9); otherwise the score is 0. Returns the sum of the radii\n"
      "    # divided by sqrt({0} / pi) (the area bound), in [0, 1]; slower than 30 s scores 0.\n",
      n);
  t.make_instance = [n](uint64_t) { return Instance{json::array({n}), json(n)}; };
  t.score = [](const json& output, const json& answer) {
    int count = answer.get<int>();
    auto flat = FlatValues(output, size_t(count) * 3);
    // Exactly [count, 3]: a flat list or other nesting is a wrong shape.
    bool rows = output.is_array() && int(output.size()) == count &&
                std::all_of(output.begin(), output.end(), [](const json& c) { return c.is_array() && c.size() == 3; });
    if (!flat || !rows) return WrongShape();
    const std::vector<double>& v = *flat;
    constexpr double tol = kCirclePackingTolerance;
    double sum = 0;
    for (int i = 0; i < count; ++i) {
      double x = v[3 * i], y = v[3 * i + 1], r = v[3 * i + 2];
      if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(r) || r < 0) return Scored(0);
      if (x - r < -tol || x + r > 1 + tol || y - r < -tol || y + r > 1 + tol) return Scored(0);
      for (int j = 0; j < i; ++j) {
        double dx = x - v[3 * j], dy = y - v[3 * j + 1];
        if (std::sqrt(dx * dx + dy * dy) < r + v[3 * j + 2] - tol) return Scored(0);
      }
      sum += r;
    }
    return Scored(sum / CirclePackingBound(count));
  };
  return t;
}

}  // namespace

double CirclePackingSumOfRadii(int n, double utility) { return utility * CirclePackingBound(n); }

uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c) {
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(a) ^ b) ^ c);
}

std::vector<std::string> TaskNames() {
  return {"lpn", "parity", "maxcut", "3sat", "qap", "grid_distance", "circle_packing_26", "circle_packing_32"};
}

Result<Task> FindTask(std::string_view name) {
  if (name == "lpn") return ParityTask(true);
  if (name == "parity") return ParityTask(false);
  if (name == "maxcut") return MaxCutTask();
  if (name == "3sat") return SatTask();
  if (name == "qap") return QapTask();
  if (name == "grid_distance") return GridDistanceTask();
  if (name == "circle_packing_26") return CirclePackingTask(26);
  if (name == "circle_packing_32") return CirclePackingTask(32);
  std::string names;
  for (const auto& n : TaskNames()) names += (names.empty() ? "" : ", ") + n;
  return NotFound("no task '" + std::string(name) + "' (tasks: " + names + ")");
}

}  // namespace lmlab::improve
