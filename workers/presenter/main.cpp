#include "assemblyline/worker_runtime.hpp"
#include "presenter/presenter_stage.hpp"

int main(int argc, char** argv) { return al::run_worker<al::PresenterStage>(argc, argv); }
