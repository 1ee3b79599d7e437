#include "assemblyline/worker_runtime.hpp"
#include "distributor/distributor_stage.hpp"

int main(int argc, char** argv) { return al::run_worker<al::DistributorStage>(argc, argv); }
