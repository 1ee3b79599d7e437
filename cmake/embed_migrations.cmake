# Writes OUT: a C++ source defining al::embedded_migrations(), one entry per
# sql/NNN_name.sql file, in file-name order. Raw string literals keep the SQL
# byte for byte; the delimiter is one no migration may contain.
string(REPLACE "|" ";" FILES "${FILES}")
set(body "// Generated from sql/*.sql by cmake/embed_migrations.cmake. Do not edit.\n#include \"assemblyline/migrations.hpp\"\n\nnamespace al {\nconst std::vector<Migration>& embedded_migrations() {\n  static const std::vector<Migration> list = {\n")
foreach(f IN LISTS FILES)
  get_filename_component(name ${f} NAME_WE)
  string(SUBSTRING ${name} 0 3 number)
  math(EXPR version "${number}")
  file(READ ${f} sql)
  string(APPEND body "    {${version}, \"${name}\", R\"al_sql(${sql})al_sql\"},\n")
endforeach()
string(APPEND body "  };\n  return list;\n}\n}  // namespace al\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
