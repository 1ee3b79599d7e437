// al-scheduler: the one active dispatcher of the line (see scheduler.hpp).
#include "assemblyline/scheduler.hpp"

int main(int argc, char** argv) { return al::run_scheduler(argc, argv); }
