// Compile-time checks: `tsc` fails when the generated types accept a field the API does not
// have (each `@ts-expect-error` must meet an error) or lose one it does have.
import type { Schema } from "../src/index.js";

export function customerFields(customer: Schema<"CustomerList">): string {
  // @ts-expect-error customers have `name`; `full_name` belongs to users
  void customer.full_name;
  // @ts-expect-error keys are snake_case, as the API sends them
  void customer.customerType;
  return `${customer.code ?? ""} ${customer.name} ${customer.customer_type}`;
}

export function userFields(user: Schema<"User">): string {
  // @ts-expect-error keys are snake_case, as the API sends them
  void user.firstName;
  return `${user.first_name} ${user.last_name} (${user.full_name})`;
}

export function newCustomer(organization: number): Schema<"CustomerRequest"> {
  return {
    organization,
    name: "Ada Lovelace",
    email: "ada@example.com",
    customer_type: "individual",
    // @ts-expect-error the type is one of the API's choices
    status: "enabled",
  };
}
