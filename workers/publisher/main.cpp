#include "assemblyline/worker_runtime.hpp"
#include "publisher/publisher_stage.hpp"

int main(int argc, char** argv) { return al::run_worker<al::PublisherStage>(argc, argv); }
