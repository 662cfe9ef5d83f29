// STOP's downstream tasks (Zelikman et al. 2023): a description shown to the
// model, a public description of the utility, a seed solution, and a hidden
// utility that only the host computes. The host makes seeded instances, the
// sandbox runs the candidate on their inputs only, and the host scores the
// outputs against answers the candidate never sees.
//
//   LMLAB_ASSIGN_OR_RETURN(Task lpn, FindTask("lpn"));
//   Instance inst = lpn.make_instance(/*seed=*/7);
//   InstanceScore s = lpn.score(output_json, inst.answer);  // s.value in [0, 1]
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/error.h"

namespace lmlab::improve {

struct Instance {
  nlohmann::json args;    // the arguments of algorithm(...), in order
  nlohmann::json answer;  // hidden: stays on the host
};

struct InstanceScore {
  double value = 0;            // in [0, 1]
  bool wrong_shape = false;    // output of the wrong type or shape (scored 0)
  double naive_value = 0;      // what a broadcasting scorer would have said (may exceed 1)
};

struct Task {
  std::string name;                 // "lpn"
  std::string title;                // "learning parity with noise"
  std::string description;          // shown to the model
  std::string utility_description;  // the public utility, shown to the model (utility.str)
  std::string seed_solution;        // Python defining algorithm(...)
  std::string entry = "algorithm";
  std::vector<int> numpy_args;      // argument indices passed as numpy arrays
  double time_limit_seconds = 1;    // per instance; slower instances score 0
  int instances_per_call = 3;       // validation instances per utility call
  int distinct_instances = 0;       // > 0: the task has only this many (circle packing: 1); caps every evaluation
  std::function<Instance(uint64_t seed)> make_instance;
  std::function<InstanceScore(const nlohmann::json& output, const nlohmann::json& answer)> score;
};

// Circle packing: the sum of radii of a valid packing (what the published
// results report) from its utility value.
inline constexpr double kCirclePackingTolerance = 1e-9;
double CirclePackingSumOfRadii(int n, double utility);

// The built-in tasks: lpn, parity, maxcut, 3sat, qap, grid_distance,
// circle_packing_26, circle_packing_32.
std::vector<std::string> TaskNames();
// kNotFound lists the names.
Result<Task> FindTask(std::string_view name);

// A well-mixed 64-bit seed from parts (SplitMix64), so instance streams for
// validation, testing and held-out reporting never overlap.
uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c = 0);

}  // namespace lmlab::improve
