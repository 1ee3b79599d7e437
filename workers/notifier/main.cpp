#include "assemblyline/worker_runtime.hpp"
#include "notifier/notifier_stage.hpp"

int main(int argc, char** argv) { return al::run_worker<al::NotifierStage>(argc, argv); }
