import { Field, ObjectType } from '@nestjs/graphql';

/** The logged-in user as the `me` query and the `login` mutation answer it. */
@ObjectType()
export class User {
  @Field()
  username!: string;

  @Field()
  name!: string;

  @Field({ description: 'When this session logged in (ISO 8601).' })
  loggedInAt!: string;
}
