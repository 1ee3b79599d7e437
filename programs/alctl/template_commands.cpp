// alctl template add|list|show: Mustache templates in al.templates.
#include <fstream>
#include <iostream>
#include <sstream>

#include <pqxx/pqxx>

#include "alctl.hpp"
#include "assemblyline/database.hpp"
#include "assemblyline/error.hpp"

namespace alctl {
namespace {

struct TemplateAdd {
  std::string name, file, subject, sort_field, reply_to;
  std::vector<std::string> required;
  bool attach_pdf = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw al::Error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int template_add(Context& ctx, const TemplateAdd& args) {
  const std::string body = read_file(args.file);
  std::string version;
  with_subject("template " + args.name, [&] {
    pqxx::work tx(ctx.db());
    const auto nullable = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
    version = tx.exec_params("SELECT al.put_template($1, $2, $3, $4::text[], $5, $6, $7)", args.name, body,
                             nullable(args.subject), al::text_array_literal(args.required), nullable(args.sort_field),
                             args.attach_pdf, nullable(args.reply_to))[0][0]
                  .c_str();
    tx.commit();
  });
  if (ctx.format() == Format::table) {
    std::cout << "template " << args.name << " version " << version << '\n';
  } else {
    Table table({"name", "version"});
    table.add_row({Cell::of(args.name), Cell::of(std::stoll(version))});
    table.print(std::cout, ctx.format());
  }
  return 0;
}

int template_list(Context& ctx) {
  pqxx::work tx(ctx.db());
  const auto result = tx.exec(
      "SELECT DISTINCT ON (name) name, version, subject, array_to_string(required_fields, ',') AS required_fields, "
      "       attach_pdf, reply_to, created_at, created_by "
      "FROM al.templates ORDER BY name, version DESC");
  Table::from_result(result).print(std::cout, ctx.format());
  return 0;
}

int template_show(Context& ctx, const std::string& name, int version) {
  pqxx::work tx(ctx.db());
  const std::string columns = "name, version, subject, array_to_string(required_fields, ',') AS required_fields, "
                              "sort_field, attach_pdf, reply_to, created_at, created_by";
  const auto result = tx.exec_params("SELECT " + columns + ", body FROM al.templates "
                                     "WHERE name = $1 AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1",
                                     name, version);
  if (result.empty())
    throw al::Error("template " + name + (version ? " version " + std::to_string(version) : "") + ": not found");
  if (ctx.format() != Format::table) {
    Table::from_result(result).print_record(std::cout, ctx.format());
    return 0;
  }
  // The record without the body, then the body as it is.
  const auto head = tx.exec_params("SELECT " + columns + " FROM al.templates WHERE name = $1 AND version = $2", name,
                                   result[0]["version"].as<int>());
  Table::from_result(head).print_record(std::cout, Format::table);
  const std::string body = result[0]["body"].c_str();
  std::cout << '\n' << body;
  if (body.empty() || body.back() != '\n') std::cout << '\n';
  return 0;
}

}  // namespace

void add_template_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("template", "Mustache templates");
  group->require_subcommand(1);

  auto args = std::make_shared<TemplateAdd>();
  auto* add = group->add_subcommand("add", "store FILE as the newest version of template NAME");
  add->add_option("NAME", args->name, "template name")->required();
  add->add_option("FILE", args->file, "Mustache template file")->required()->check(CLI::ExistingFile);
  add->add_option("--subject", args->subject, "e-mail subject (itself a Mustache template)");
  add->add_option("--required", args->required, "fields every record must have (comma-separated)")->delimiter(',');
  add->add_option("--sort-field", args->sort_field, "record field that orders print batches (e.g. zip)");
  add->add_flag("--attach-pdf", args->attach_pdf, "e-mails carry the document as a PDF attachment");
  add->add_option("--reply-to", args->reply_to, "Reply-To of its e-mails (default: smtp.reply_to)");
  on_run(add, ctx, [&ctx, args] { return template_add(ctx, *args); });

  on_run(group->add_subcommand("list", "every template with its newest version"), ctx,
         [&ctx] { return template_list(ctx); });

  auto name = std::make_shared<std::string>();
  auto version = std::make_shared<int>(0);
  auto* show = group->add_subcommand("show", "a template's newest version (or --version N) and its body");
  show->add_option("NAME", *name, "template name")->required();
  show->add_option("--version", *version, "a given version instead of the newest")->check(CLI::PositiveNumber);
  on_run(show, ctx, [&ctx, name, version] { return template_show(ctx, *name, *version); });
}

}  // namespace alctl
