// Scoring pieces shared by lmlab's task definitions (tasks.cc) and the
// paper's (paper_tasks.cc): reading a candidate's JSON output as numbers and
// the two kinds of instance score.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/improve/task.h"

namespace lmlab::improve::internal {

// Flattens a nested list of numbers (booleans as 0/1); false when it holds
// anything else or nests deeper than a few levels.
bool Flatten(const nlohmann::json& j, std::vector<double>& out, int depth = 0);
// The output flattened to exactly n numbers; nothing when it has another shape.
std::optional<std::vector<double>> FlatValues(const nlohmann::json& output, size_t n);
// A permutation of 0..n-1 (flattened from any nesting); nothing otherwise.
std::optional<std::vector<int>> Permutation(const nlohmann::json& output, int n);
// Accuracy of 0/1 predictions against `answer` (a list of labels): a flat
// list of one value per label; anything nested ([n, 1] included) is a wrong
// shape, with what numpy broadcasting would have said kept as naive_value.
InstanceScore ScoreLabels(const nlohmann::json& output, const nlohmann::json& answer);

inline InstanceScore WrongShape() { return {.wrong_shape = true}; }
// A well-shaped output's score (a broadcasting scorer would agree).
inline InstanceScore Scored(double value) { return {.value = value, .naive_value = value}; }

// The paper's tasks (microsoft/stop, tasks/*/secret_utility.py), under their
// own names; lmlab's earlier definitions are the "<name>_lmlab" tasks.
Task PaperSatTask();
Task PaperMaxCutTask();
Task PaperQapTask();
Task PaperGridDistanceTask();

}  // namespace lmlab::improve::internal
