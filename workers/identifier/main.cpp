#include "assemblyline/worker_runtime.hpp"
#include "identifier/identifier_stage.hpp"

int main(int argc, char** argv) { return al::run_worker<al::IdentifierStage>(argc, argv); }
