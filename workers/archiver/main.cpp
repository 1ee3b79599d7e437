#include "archiver/archiver_stage.hpp"
#include "assemblyline/worker_runtime.hpp"

int main(int argc, char** argv) { return al::run_worker<al::ArchiverStage>(argc, argv); }
